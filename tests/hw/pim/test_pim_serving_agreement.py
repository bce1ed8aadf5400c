"""The fast model in the mode serving uses (refresh="expected") against the engine averaged over where the
call starts in the refresh schedule, with the rank PU timed by a model written here from the rank PU's
specification (docs/pim.md), not by ``latency.combine_rank_pu`` (issue 17, item 2)."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("l3sim.hw.dram.engine")

from l3sim.hw.pim import attention_latency  # noqa: E402
from l3sim.hw.pim.mapping import head_mapping  # noqa: E402
from l3sim.hw.pim.plan import plan_call  # noqa: E402
from l3sim.hw.pim.programs import program_segment  # noqa: E402
from l3sim.hw.pim.reference import simulate_cycles  # noqa: E402
from l3sim.hw.pim.system import load_pim_system  # noqa: E402
from l3sim.spec.pim import variant_features  # noqa: E402

PHASES = 8  # start phases, evenly spread over tREFI
HEAD_DIM = 128


@pytest.fixture(scope="module")
def ddr4():
    return load_pim_system("dgx-a100-l3")


def rank_pu(tokens: int, heads: int, gqa: int, variant: str, system) -> tuple[float, float]:
    """(busy, final) cycles of the rank PU, from its specification: the adder sums the N_hc partial scores of
    every score, the softmax unit takes every score, at their per-cycle rates; the chip groups of a round
    all stream partial scores (idle ones too); with pipelining the chunk outputs are combined at the end
    (heads x head_dim values per chunk); rank-level PIM's PU keeps pace with the bus (no time of its own)."""
    features = variant_features(variant)
    if features.level == "rank":
        return 0.0, 0.0
    g, pu = system.geometry, system.pim.rank_pu
    m = head_mapping(gqa, g, system.pim, HEAD_DIM)
    rounds = math.ceil(heads // gqa / m.chip_groups)
    scores = tokens * rounds * m.chip_groups * gqa
    busy = scores * m.n_hc / pu.adder_elements_per_cycle + scores / pu.softmax_elements_per_cycle
    tokens_per_row = g.row_bursts // m.cols_per_token * g.banks_per_chip
    chunk_tokens = math.ceil(pu.softmax_chunk_tokens / tokens_per_row) * tokens_per_row
    chunks = math.ceil(tokens / chunk_tokens) if features.pipelining else 1
    return busy, chunks * heads * HEAD_DIM / pu.adder_elements_per_cycle


def reference_s(tokens: int, heads: int, gqa: int, variant: str, system, refresh: bool) -> float:
    """Engine DRAM cycles, averaged over PHASES start phases (refresh on), with the rank PU added by hand:
    under the DRAM time when pipelined (the slower sets the pace), after it otherwise."""
    plan = plan_call(tokens, heads, gqa, variant_features(variant), system.geometry, system.pim)
    segment = program_segment(plan, system.geometry)
    t_refi = system.memory.dram.timing.tREFI
    phases = [k * t_refi // PHASES for k in range(PHASES)] if refresh else [0]
    dram = np.mean([simulate_cycles(segment, system, refresh=refresh, refresh_phase=p) for p in phases])
    busy, final = rank_pu(tokens, heads, gqa, variant, system)
    pipelined = variant_features(variant).pipelining
    total = (max(dram, busy) if pipelined else dram + busy) + final
    return total * system.geometry.tck_s


@pytest.mark.parametrize("variant", ["l3", "no-pipeline", "cpu-relayout", "rank-pim"])
@pytest.mark.parametrize("heads,gqa", [(12, 1), (64, 8)])
def test_expected_refresh_agrees_with_the_engine_over_start_phases(ddr4, variant, heads, gqa):
    """Calls of about three tREFI: the expected-refresh closed form within 2 % of the phase-averaged engine,
    and refresh visibly in both (dropping it from the "expected" mode moves the model by about 7 %)."""
    tokens = 12000
    model = float(attention_latency(tokens, heads, gqa, variant, ddr4, refresh="expected"))
    engine = reference_s(tokens, heads, gqa, variant, ddr4, refresh=True)
    assert model == pytest.approx(engine, rel=0.02)
    no_refresh = float(attention_latency(tokens, heads, gqa, variant, ddr4, refresh=False))
    assert engine / no_refresh - 1 > 0.04


def test_the_rank_pu_model_counts_every_partial_score(ddr4):
    """Without pipelining the rank PU's time adds to the DRAM time: the closed form and the hand model agree
    on it, N_hc partial sums per score included (a PU that ignored N_hc would be several percent fast)."""
    m = head_mapping(1, ddr4.geometry, ddr4.pim, HEAD_DIM)
    assert m.n_hc > 1
    tokens = 4000
    model = float(attention_latency(tokens, 12, 1, "no-pipeline", ddr4, refresh=False))
    engine = reference_s(tokens, 12, 1, "no-pipeline", ddr4, refresh=False)
    busy, _ = rank_pu(tokens, 12, 1, "no-pipeline", ddr4)
    assert model == pytest.approx(engine, rel=0.01)
    assert busy * ddr4.geometry.tck_s / engine > 0.03
