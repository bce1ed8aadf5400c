"""The fast model against the DRAM area's command-level engine (skipped where the engine is absent).

A few sampled points of the issue's grid; ``l3sim hw validate`` runs all of it.
"""

from __future__ import annotations

import pytest

pytest.importorskip("l3sim.hw.dram.engine")
pytest.importorskip("l3sim.spec.dram")

from l3sim.hw.pim import attention_latency, reference_latency  # noqa: E402
from l3sim.hw.pim.reference import measured_intervals  # noqa: E402
from l3sim.hw.pim.system import load_pim_system  # noqa: E402


@pytest.fixture(scope="module")
def ddr4():
    return load_pim_system("dgx-a100-l3")


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["l3", "no-pipeline", "cpu-relayout", "rank-pim"])
@pytest.mark.parametrize("heads,gqa,tokens", [(12, 1, 128), (12, 1, 3000), (64, 8, 128), (64, 8, 3000)])
def test_fast_model_within_2_percent_of_engine(ddr4, variant, heads, gqa, tokens):
    model = attention_latency(tokens, heads, gqa, variant, ddr4, refresh=False)
    engine = reference_latency(tokens, heads, gqa, variant, ddr4, refresh=False)
    assert model == pytest.approx(engine, rel=0.02)


def test_engine_spaces_macs_by_tccd_l_and_result_reads_by_a_burst(ddr4):
    """The two intervals the bubble-free rule compares, as the engine times them."""
    g = ddr4.geometry
    mac, read = measured_intervals(ddr4)
    assert mac == pytest.approx(g.tccd_l)
    assert read == pytest.approx(g.burst_cycles)


@pytest.mark.parametrize("variant", ["l3", "cpu-relayout"])
def test_ddr5_sub_channel_rank(variant):
    ddr5 = load_pim_system("ddr5-server")
    model = attention_latency(512, 64, 8, variant, ddr5, refresh=False)
    engine = reference_latency(512, 64, 8, variant, ddr5, refresh=False)
    assert model == pytest.approx(engine, rel=0.02)


@pytest.mark.parametrize("heads,gqa", [(12, 1), (64, 8)])
def test_refresh_aligned_with_the_engine_schedule(ddr4, heads, gqa):
    """Long enough for several REFs (tREFI = 7.8 us): the model's per-REF cost against the engine's."""
    model = attention_latency(20000, heads, gqa, "l3", ddr4, refresh="aligned")
    engine = reference_latency(20000, heads, gqa, "l3", ddr4, refresh=True)
    assert model == pytest.approx(engine, rel=0.02)


@pytest.mark.parametrize("heads,gqa,variant,tokens", [(64, 8, "l3", 128), (64, 8, "l3", 512), (64, 8, "no-pipeline", 512),
                                                       (12, 1, "cpu-relayout", 128)])
def test_refresh_aligned_on_ddr5(heads, gqa, variant, tokens):
    """Where REFs fall on closed banks (GQA-8's output read-outs) or in write-backs: the issue's worst points."""
    ddr5 = load_pim_system("ddr5-server")
    model = attention_latency(tokens, heads, gqa, variant, ddr5, refresh="aligned")
    engine = reference_latency(tokens, heads, gqa, variant, ddr5, refresh=True)
    assert model == pytest.approx(engine, rel=0.02)
