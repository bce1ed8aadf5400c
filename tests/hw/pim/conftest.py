"""Fixtures of the PIM tests: the paper's DDR4-3200 rank (pim_ranks.py)."""

from __future__ import annotations

import pytest

from l3sim.hw.pim.geometry import RankGeometry
from l3sim.hw.pim.system import PIMSystem
from l3sim.spec.pim import PIMSpec

from pim_ranks import DDR5_4800, PAPER_DDR4  # noqa: F401  (re-exported for the tests)


@pytest.fixture
def ddr4() -> RankGeometry:
    return PAPER_DDR4


@pytest.fixture
def system() -> PIMSystem:
    return PIMSystem(PAPER_DDR4, PIMSpec())
