"""Fixtures of the DRAM tests: presets, and the stream helpers on the import path."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from dram_streams import dram_preset  # noqa: E402


@pytest.fixture(scope="session")
def ddr4():
    return dram_preset("ddr4-3200")


@pytest.fixture(scope="session")
def ddr5():
    return dram_preset("ddr5-4800")
