"""Shared test fixtures: the location of ../shared (real traces and profiles), skipped when absent; a fit cache
(``l3sim.cache``) of the test session's own, so that tests neither read nor fill the user's ~/.cache/l3sim,
while the L3 runs of one session still share their trained predictors."""

from __future__ import annotations

from pathlib import Path

import pytest

from l3sim.cache import CACHE_ENV

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture
def shared_dir() -> Path:
    """../shared next to the checkout; tests that need it skip cleanly when it is absent."""
    if not SHARED.is_dir():
        pytest.skip("../shared is absent (real traces and profiles)")
    return SHARED


@pytest.fixture(scope="session", autouse=True)
def session_fit_cache(tmp_path_factory: pytest.TempPathFactory):
    """Point ``L3SIM_CACHE_DIR`` (this process and the CLI processes tests start) at a fresh folder."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CACHE_ENV, str(tmp_path_factory.mktemp("l3sim-cache")))
        yield
