"""The closed form against a plain in-order timer of the same programs (no engine, no refresh)."""

from __future__ import annotations

import pytest

from l3sim.hw.pim.latency import dram_cycles
from l3sim.hw.pim.plan import plan_call
from l3sim.hw.pim.programs import program_segment
from l3sim.spec.pim import PIMSpec, VARIANTS

from pim_ranks import DDR5_4800, PAPER_DDR4
from pim_inorder_oracle import program_cycles


@pytest.mark.parametrize("geometry", [PAPER_DDR4, DDR5_4800], ids=["ddr4-3200", "ddr5-4800"])
@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("heads,gqa", [(12, 1), (64, 8)])
@pytest.mark.parametrize("tokens", [1, 128, 700, 4096])
def test_closed_form_within_2_percent_of_in_order_timing(geometry, variant, heads, gqa, tokens):
    plan = plan_call(tokens, heads, gqa, VARIANTS[variant], geometry, PIMSpec())
    timed = program_cycles(program_segment(plan, geometry), geometry)
    model = float(dram_cycles(plan, geometry)[0])
    assert model == pytest.approx(timed, rel=0.02)
