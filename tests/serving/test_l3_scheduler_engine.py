"""The L3 scheduler on the engine: what it learns from is what the system charged, and pre-empting
plans advance in closed form exactly as stepping does."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest
from serving_fakes import Req

from l3sim.serving import serve
from l3sim.serving.engine import Engine
from l3sim.serving.kvstore import KVStore
from l3sim.serving.schedulers import build_scheduler
from l3sim.serving.state import ReplicaState, RequestTable
from l3sim.serving.systems import build_system
from l3sim.spec.run import build_run_spec


def _spec(*overrides: str):
    # a small KV share of the DIMMs so that a few dozen requests fill it and pre-empt
    return build_run_spec(["serving.kv_capacity_fraction=0.02", *overrides], platform="dgx-a100",
                          model="gpt-175b", workload="openr1", system="l3", requests=40)


def _requests(n: int, seed: int) -> list[Req]:
    rng = np.random.default_rng(seed)
    return [Req(i, 0.0, int(p), int(o)) for i, (p, o) in
            enumerate(zip(rng.integers(50, 800, n), rng.integers(200, 3000, n)))]


def _table(requests: list[Req]) -> RequestTable:
    return RequestTable(ids=np.array([r.id for r in requests]), arrival_s=np.zeros(len(requests)),
                        prompt_tokens=np.array([r.prompt_tokens for r in requests]),
                        output_tokens=np.array([r.output_tokens for r in requests]))


def _engine(spec):
    system = build_system(spec)
    kv = KVStore.from_bytes(system.kv_capacity_bytes * spec.serving.kv_capacity_fraction,
                            system.kv_bytes_per_token, spec.serving.kv_block_tokens,
                            spec.serving.admission_watermark_fraction, spec.serving.kv_reservation)
    return system, Engine(system, build_scheduler("l3", spec.serving, system, spec.schedulers), kv)


def test_observed_stage_times_are_what_the_system_charges_for_the_sub_batches():
    spec = _spec()
    system, engine = _engine(spec)
    scheduler = engine.scheduler
    table = _table(_requests(40, 3))
    expected: list[tuple[float, float]] = []
    observe = scheduler.observe

    def check(plan, cost):
        if scheduler._pending is not None:
            completing = plan.prefill_done_tokens + plan.prefill_chunk_tokens >= table.prefill_target[plan.prefill_ids]
            for g in (0, 1):  # the systems' GPU stage g: prefills of group g, dense layers of decode group g
                pos, ids = plan.prefill_sub_batches[g], plan.decode_ids[plan.sub_batches[g]]
                gpu = system.gpu_stage_s(plan.prefill_chunk_tokens[pos], plan.prefill_done_tokens[pos], ids.size,
                                         ids.size + int(completing[pos].sum()))
                # the scheduler's sub-batch g holds the decodes of the systems' group 1 - g
                att_ids = plan.decode_ids[plan.sub_batches[1 - g]]
                pim = system.attention_stage_s(table.kv_tokens[att_ids] + 1, table.slot[att_ids],
                                               int(plan.prefill_chunk_tokens[pos].sum()))
                expected.append((gpu, pim))
        observe(plan, cost)

    scheduler.observe = check
    Engine(system, scheduler, engine.kv).run(table)  # the engine looks the hook up when it is built
    assert len(scheduler.accuracy) == len(expected) > 10
    got = np.array([(row[1], row[3]) for row in scheduler.accuracy])
    assert got == pytest.approx(np.array(expected), rel=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("reservation", ["prompt", "full"])
def test_closed_form_equals_stepping_with_preemption(reservation):
    requests = _requests(40, 5)
    fast = serve(build_system(_spec()), requests, _spec(f'serving.kv_reservation="{reservation}"'))
    slow = serve(build_system(_spec()), requests,
                 _spec(f'serving.kv_reservation="{reservation}"', 'serving.stepping="per-iteration"'))
    if reservation == "prompt":
        assert fast.preemptions > 0
    assert (fast.iterations, fast.preemptions) == (slow.iterations, slow.preemptions)
    assert fast.makespan_s == pytest.approx(slow.makespan_s, rel=1e-9)
    assert fast.tbt_s["p99"] == pytest.approx(slow.tbt_s["p99"], rel=1e-9)


class _ClosedForm:
    """T_GPU = 1 ms per prefill token and per decode of the other sub-batch; T_PIM = 0.05 ms per context token."""

    def gpu_s(self, chunk_tokens, done_tokens, num_decodes):
        return (np.sum(chunk_tokens) + np.asarray(num_decodes, dtype=float)) * 1e-3

    def gpu_s_rows(self, head_chunks, head_done, last_chunks, last_done, num_decodes):
        return (np.sum(head_chunks) + np.asarray(last_chunks, dtype=float) + num_decodes) * 1e-3

    def pim_s(self, decode_context_tokens, num_decodes, other_prefill_tokens):
        return 0.05e-3 * np.asarray(decode_context_tokens, dtype=float)


@pytest.mark.parametrize("regroup", ["decision", "never"])
def test_regroup_reforms_both_sub_batches_only_when_the_policy_decides(regroup):
    spec = _spec(f'schedulers.l3.regroup="{regroup}"')
    system, engine = _engine(spec)
    scheduler = build_scheduler("l3", spec.serving, system, spec.schedulers)
    scheduler.predictor = _ClosedForm()
    # eight decoding requests of 100-token contexts on four ranks, all kept in sub-batch 0, one waiting prompt
    table = _table([Req(i, 0.0, 100, 50) for i in range(8)] + [Req(8, 0.0, 20, 50)])
    decoding = np.arange(8)
    table.prefill_done[decoding] = table.prefill_target[decoding]
    table.kv_tokens[decoding], table.generated[decoding] = 100, 1
    table.slot[decoding] = decoding % 4
    table.reserved_blocks[decoding] = engine.kv.blocks_for(100)
    state = ReplicaState(table, engine.kv, running=list(range(8)), waiting=deque([8]))
    scheduler.lane = np.array([0] * 8 + [-1])

    plan = scheduler.plan(state)
    sizes = sorted(ids.size for ids in plan.sub_batches)
    assert plan.prefill_ids.tolist() == [8] and plan.admit_ids == (8,)
    if regroup == "never":
        assert sizes == [0, 8]  # the kept decodes stay where they were
    else:
        # re-formed: the prefill's sub-batch takes decodes (5.05 ms of PIM each) until T_PIM >= T_GPU = 20 ms
        # (four), the other four go to the other sub-batch, whose phase is then the shorter one each time
        assert sizes == [4, 4]
    # with nothing new to place and no candidate, the next plan keeps the split as it is
    state.running.append(state.waiting.popleft())
    table.prefill_done[8] = table.prefill_target[8]
    table.kv_tokens[8], table.generated[8], table.slot[8] = 20, 1, 0
    scheduler.lane[8] = 0  # as if already placed: no decode to place, no candidate
    again = scheduler.plan(state)
    kept = [set(plan.decode_ids[ids].tolist()) for ids in plan.sub_batches]
    assert [set(again.decode_ids[ids].tolist()) - {8} for ids in again.sub_batches] == kept
    assert again.steady
