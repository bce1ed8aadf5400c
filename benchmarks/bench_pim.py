"""Speed of the PIM fast latency model: one call for a batch of 256 requests (what the serving loop pays)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from l3sim.hw.pim import attention_cost_coefficients, attention_latency
from l3sim.hw.pim.system import PIMSystem
from l3sim.spec.pim import PIMSpec

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "hw" / "pim"))
from pim_ranks import PAPER_DDR4 as DDR4  # noqa: E402  (the paper's DDR4-3200 rank, shared with the tests)

SYSTEM = PIMSystem(DDR4, PIMSpec())
BATCH = np.random.default_rng(0).integers(128, 131072, size=256)


@pytest.mark.parametrize("heads,gqa", [(12, 1), (64, 8)])
def test_fast_model_batch_256(benchmark, heads, gqa):
    result = benchmark(attention_latency, BATCH, heads, gqa, "l3", SYSTEM)
    assert result.shape == (256,)


def test_fast_model_batch_256_bus_bound(benchmark):
    """DDR5-4800 GQA-8: the rank bus is slower than the MACs, so the pipelined units are timed chunk by chunk
    (hw/pim/chunk_timer.py, compiled; the compile is paid before the timed rounds)."""
    from l3sim.hw.pim.system import load_pim_system

    ddr5 = load_pim_system("ddr5-server")
    attention_latency(BATCH[:2], 64, 8, "l3", ddr5)
    result = benchmark(attention_latency, BATCH, 64, 8, "l3", ddr5)
    assert result.shape == (256,)


def test_cost_coefficients(benchmark):
    fixed, per_token = benchmark(attention_cost_coefficients, 12, 1, "l3", SYSTEM)
    assert per_token > 0
