"""Speed of the PIM fast latency model: one call for a batch of 256 requests (what the serving loop pays)."""

from __future__ import annotations

import numpy as np
import pytest

from l3sim.hw.pim import attention_cost_coefficients, attention_latency
from l3sim.hw.pim.geometry import RankGeometry
from l3sim.hw.pim.system import PIMSystem
from l3sim.spec.pim import PIMSpec

# The paper's DDR4-3200 rank (L3_SYSTEM.md s.2; JEDEC values for tFAW, tRFC, tREFI and rows).
DDR4 = RankGeometry(
    tck_s=0.625e-9, chips_per_rank=8, banks_per_chip=16, bank_groups=4, burst_bytes_per_chip=8, row_bursts=128,
    rows_per_bank=262144, channels=16, ranks_per_channel=4, burst_cycles=4, tccd_s=4, tccd_l=8, trcd=22, trp=22,
    tras=52, trtp=12, twr=24, cwl=16, cl=22, trrd_s=4, trrd_l=8, tfaw=34, trfc=880, trefi=12480,
)
SYSTEM = PIMSystem(DDR4, PIMSpec())
BATCH = np.random.default_rng(0).integers(128, 131072, size=256)


@pytest.mark.parametrize("heads,gqa", [(12, 1), (64, 8)])
def test_fast_model_batch_256(benchmark, heads, gqa):
    result = benchmark(attention_latency, BATCH, heads, gqa, "l3", SYSTEM)
    assert result.shape == (256,)


def test_cost_coefficients(benchmark):
    fixed, per_token = benchmark(attention_cost_coefficients, 12, 1, "l3", SYSTEM)
    assert per_token > 0
