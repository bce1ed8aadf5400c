"""The engine's rule table and its in-order schedules against the independent JEDEC oracle (jedec_oracle)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest

from l3sim.hw.dram.commands import FIELDS, Cmd, CommandStream
from l3sim.hw.dram.engine import simulate
from l3sim.hw.dram.rules import Scope, timing_rules
from l3sim.spec.dram import DRAMSpec

from dram_streams import dram_preset, random_stream
from jedec_oracle import RELATIONS, earliest_in_order, min_gaps

DISTINCT_PATH = Path(__file__).with_name("distinct-timings.toml")
COVERS = {Scope.BANK: {"SB"}, Scope.BANK_GROUP: {"SB", "SG"}, Scope.RANK: {"SB", "SG", "DG"},
          Scope.OTHER_RANK: {"DR"}, Scope.CHANNEL: set(RELATIONS)}


def distinct_timings() -> DRAMSpec:
    return DRAMSpec.parse(tomllib.loads(DISTINCT_PATH.read_text()), str(DISTINCT_PATH))


def as_dicts(stream: CommandStream) -> list[dict]:
    columns = {name: getattr(stream, name).tolist() for name in FIELDS}
    return [{name: columns[name][i] for name in FIELDS} for i in range(len(stream))]


def engine_gaps(dram: DRAMSpec) -> dict[tuple[Cmd, Cmd, str], int]:
    out = {(a, b, rel): 0 for a in Cmd for b in Cmd for rel in RELATIONS}
    for rule in timing_rules(dram.timing):
        for rel in COVERS[rule.scope]:
            key = (rule.earlier, rule.later, rel)
            out[key] = max(out[key], rule.gap)
    return out


def test_the_test_preset_has_distinct_timings():
    t = distinct_timings().timing
    names = ["tCMD", "tBL", "tRTRS", "tRTRS_WW", "tWTR_S", "bus_turnaround", "tCCD_S", "tCCD_S_WR", "tCCD_L",
             "tRRD_S", "tCCD_L_WR", "tRRD_L", "tWTR_L", "tRTP", "CWL", "tRP", "tRCD", "CL", "tWR", "tFAW", "tRAS",
             "tRC", "tRFC", "tREFI"]
    values = [getattr(t, n) for n in names]
    assert len(set(values)) == len(values)
    assert t.tFAW > 4 * t.tRRD_S  # so the window binds and a dropped tFAW shows


@pytest.mark.parametrize("preset", ["distinct", "ddr4-3200", "ddr5-4800", "ddr5-4800an", "ddr4-3200-8gb"])
def test_every_ordered_pair_has_the_jedec_gap(preset):
    dram = distinct_timings() if preset == "distinct" else dram_preset(preset)
    oracle, engine = min_gaps(dram.timing), engine_gaps(dram)
    wrong = [f"{a.name}->{b.name} {rel}: engine {engine[(a, b, rel)]}, JEDEC {gap}"
             for (a, b, rel), gap in oracle.items() if engine[(a, b, rel)] != gap]
    assert wrong == []


@pytest.mark.parametrize("seed", range(6))
def test_in_order_schedules_issue_at_the_oracles_earliest_cycle(seed):
    """Random protocol-correct streams (host and PIM commands, two ranks): every command at the cycle the
    oracle computes from the earlier commands alone."""
    dram = distinct_timings()
    stream = random_stream(seed, 160, dram, 1, 2, pim=True)
    schedule = simulate(stream, dram, 2, refresh=False, backend="numba")
    expected = earliest_in_order(as_dicts(stream), dram.timing)
    assert schedule.issue_cycle.tolist() == expected


def test_a_swapped_parameter_changes_the_gaps():
    """The point of distinct timings: swapping tRCD and tRP in the engine's input moves ACT->RD and PRE->ACT."""
    dram = distinct_timings()
    swapped = dram.model_copy(update={"timing": dram.timing.model_copy(
        update={"tRCD": dram.timing.tRP, "tRP": dram.timing.tRCD})})
    oracle = min_gaps(dram.timing)
    engine = engine_gaps(swapped)
    assert engine[(Cmd.ACT, Cmd.RD, "SB")] != oracle[(Cmd.ACT, Cmd.RD, "SB")]
    assert engine[(Cmd.PRE, Cmd.ACT, "SB")] != oracle[(Cmd.PRE, Cmd.ACT, "SB")]
    assert np.any(np.array(list(oracle.values())) > 0)
