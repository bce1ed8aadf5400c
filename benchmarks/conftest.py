"""Benchmarks keep their own fit cache (``l3sim.cache``): a session folder, never the user's ~/.cache/l3sim.
Benchmarks that depend on the cache's state say which one they time (``fit_cache``: cold or warm)."""

from __future__ import annotations

import pytest

from l3sim.cache import CACHE_ENV


@pytest.fixture(scope="session", autouse=True)
def session_fit_cache(tmp_path_factory: pytest.TempPathFactory):
    """Point ``L3SIM_CACHE_DIR`` (this process and the processes benchmarks start) at a fresh folder."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CACHE_ENV, str(tmp_path_factory.mktemp("l3sim-cache")))
        yield
