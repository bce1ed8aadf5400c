"""``simulate(timeline=False)`` and ``System.without_timeline``: a run that draws no timeline times the same."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from l3sim.serving.plan import IterationPlan
from l3sim.serving.state import RequestTable
from l3sim.serving.systems import build_system
from l3sim.spec.run import build_run_spec

SYSTEMS = ("gpu-only", "hbm-pim", "hbm-pim-single", "hbm-pim-ext", "cpu-offload", "r-pim", "l3")


@pytest.mark.parametrize("system", SYSTEMS)
def test_a_run_without_its_timeline_times_the_same(system):
    """``simulate(timeline=False)`` (sweep points, capacity probes, ``l3sim run`` without --timeline) builds no
    timeline intervals: every metric is the same and the result holds no timeline; with it, every segment of the
    run is drawn, and each of a sub-batch system's iterations has intervals on the GPU and on the device."""
    from l3sim.serving.simulate import simulate

    spec = build_run_spec(platform="dgx-a100", system=system, model="llama-2-7b", workload="openr1",
                          parallel={"tp": 1, "dp": 1}, requests=12, arrival="poisson:0.5")
    drawn, undrawn = simulate(spec), simulate(spec, timeline=False)
    assert undrawn.to_dict() == drawn.to_dict()
    assert undrawn.timeline == []
    assert sum(row[3] for row in drawn.timeline) == drawn.iterations
    tracks = {phase.track for row in drawn.timeline for phase in row[4]}
    assert "gpu" in tracks and (system == "gpu-only" or len(tracks) >= 2)


def test_a_system_told_to_draw_no_timeline_costs_the_same_without_intervals():
    """``without_timeline`` leaves a sub-batch system's costs as they were and only drops the intervals."""
    spec = build_run_spec(platform="dgx-a100", system="l3", model="llama-2-7b", workload="openr1",
                          parallel={"tp": 1, "dp": 1}, requests=12)
    undrawn = build_system(spec)
    undrawn.without_timeline()
    table = RequestTable(ids=np.arange(3), arrival_s=np.zeros(3), prompt_tokens=np.array([300, 20, 900]),
                         output_tokens=np.array([5, 5, 5]))
    table.slot[:] = [0, 1, 0]
    table.kv_tokens[:] = table.prefill_done[:] = [300, 20, 0]
    plan = IterationPlan(decode_ids=np.array([0, 1]), prefill_ids=np.array([2]),
                         prefill_chunk_tokens=np.array([256]), prefill_done_tokens=np.array([0]),
                         sub_batches=(np.array([0]), np.array([1])),
                         prefill_sub_batches=(np.array([0]), np.array([], dtype=np.int64)))
    drawn_cost, undrawn_cost = build_system(spec).iteration_cost(plan, table), undrawn.iteration_cost(plan, table)
    assert undrawn_cost.phases == () and len(drawn_cost.phases) >= 4
    assert dataclasses.replace(drawn_cost, phases=()) == undrawn_cost
