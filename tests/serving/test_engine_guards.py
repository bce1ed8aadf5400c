"""The engine loop's remaining branches: the errors it raises on a broken contract, a plan that only
pre-empts, and the searched capacity bound of a stretch whose reservations are outgrown part-way.

Each one is a branch that no end-to-end run reaches (the built-in schedulers and arrival sources keep the
contract); they are exercised here with small test doubles, and the expected values are derived by hand.
"""

from __future__ import annotations

import numpy as np
import pytest
from serving_fakes import FakeCost, SilentArrivals, fake_system, run_spec

from l3sim.errors import ConfigError
from l3sim.serving.engine import Engine
from l3sim.serving.kvstore import KVStore
from l3sim.serving.plan import IterationPlan
from l3sim.serving.schedulers import build_scheduler
from l3sim.serving.schedulers.continuous import ContinuousBatching
from l3sim.serving.state import ReplicaState, RequestTable

KV = KVStore(capacity_blocks=100, block_tokens=16, watermark_blocks=0)
COST = FakeCost(kv_capacity_bytes=0)


def _table(n: int, prompt: int = 8, output: int = 4) -> RequestTable:
    return RequestTable(ids=np.arange(n), arrival_s=np.zeros(n), prompt_tokens=np.full(n, prompt),
                        output_tokens=np.full(n, output))


def _engine(scheduler, kv: KVStore = KV) -> Engine:
    return Engine(fake_system(10_000), scheduler, kv)


def _continuous() -> ContinuousBatching:
    return ContinuousBatching(run_spec().serving)


def test_a_request_that_never_fits_is_refused_before_serving():
    # 100 blocks of 16 tokens: a request storing 8 + 2,000 - 1 tokens needs 126 blocks
    with pytest.raises(ValueError, match="never fit"):
        _engine(_continuous()).run(_table(1, output=2000))


def test_requests_that_never_arrive_stop_the_run():
    with pytest.raises(RuntimeError, match="none to arrive"):
        _engine(_continuous()).run(_table(2), arrivals=SilentArrivals())


class _Idle(ContinuousBatching):
    """Plans nothing although requests wait; fails the test if asked more than 10 times (an engine that took
    the empty plan for progress would ask forever)."""

    calls = 0

    def plan(self, state: ReplicaState) -> IterationPlan:
        self.calls += 1
        assert self.calls <= 10, "the engine keeps asking after an empty plan"
        return IterationPlan()


def test_a_scheduler_that_plans_nothing_with_work_queued_is_an_error():
    with pytest.raises(RuntimeError, match="planned nothing"):
        _engine(_Idle(run_spec().serving)).run(_table(1))


class _AdmitsTheSecond(ContinuousBatching):
    """Admits the second waiting request, skipping the first (breaks FCFS)."""

    def plan(self, state: ReplicaState) -> IterationPlan:
        rid = state.waiting[1]
        return IterationPlan(prefill_ids=np.array([rid]), prefill_chunk_tokens=np.array([8]),
                             prefill_done_tokens=np.array([0]), admit_ids=(rid,))


def test_admissions_must_come_from_the_front_of_the_queue():
    with pytest.raises(RuntimeError, match="front of the waiting queue"):
        _engine(_AdmitsTheSecond(run_spec().serving)).run(_table(2))


class _PreemptsFirst(ContinuousBatching):
    """Once two requests decode, pre-empts the later one in a plan of its own, then plans as usual."""

    def __init__(self, serving) -> None:
        super().__init__(serving)
        self.done = False

    def plan(self, state: ReplicaState) -> IterationPlan:
        table = state.table
        decoding = [r for r in state.running if table.prefill_done[r] >= table.prefill_target[r]]
        if not self.done and len(decoding) == 2:
            self.done = True
            return IterationPlan(preempt_ids=(state.running[-1],))
        return super().plan(state)


def test_a_plan_that_only_preempts_costs_no_time():
    """By hand: two prompts of 8 prefill together (iteration 1: 16 tokens, 2 logits); the plan that pre-empts
    request 1 takes no time; request 1, back at the front of the queue, re-prefills its 8 + 1 tokens beside
    request 0's decode over 9 tokens (iteration 2: 10 tokens, 2 logits), then both decode over 10 and 11
    tokens each (iterations 3, 4). The re-prefill yields request 1's next token, so 4 iterations as without."""
    table = _table(2)
    scheduler = _PreemptsFirst(run_spec().serving)
    rec = _engine(scheduler).run(table)
    assert scheduler.done and rec.preemptions == 1
    assert table.preemptions.tolist() == [0, 1]
    assert table.computed_tokens.tolist() == [0, 8]  # its 8 prompt tokens are computed again
    attention = COST.prefill_attention_time_s
    durations = [
        COST.fc_time_s(16, 2) + 2 * float(attention(np.array([8]), np.array([0]))[0]),
        COST.fc_time_s(10, 2) + float(attention(np.array([9]), np.array([0]))[0]) + COST.decode_attention_time_s(9),
        COST.fc_time_s(2, 2) + COST.decode_attention_time_s(2 * 10),
        COST.fc_time_s(2, 2) + COST.decode_attention_time_s(2 * 11),
    ]
    assert rec.iterations == 4
    assert table.finish_s.tolist() == pytest.approx([sum(durations)] * 2, rel=1e-12)
    # token gaps: request 0 one per iteration 2-4; request 1 from its first token (end of 1) to its re-prefill's
    # token (end of 2), then iterations 3 and 4
    assert rec.tbt_s.count == 6
    assert rec.tbt_s.mean() == pytest.approx(sum(durations[1:]) / 3, rel=1e-12)


def test_a_prompt_prefilled_in_chunks_decodes_over_all_its_tokens():
    """A prompt of 40 under a budget of 16 prefills in chunks of 16, 16, 8 (the last one yields the first
    token), then decodes twice over 41 and 42 tokens."""
    table = _table(1, prompt=40, output=3)
    rec = Engine(fake_system(10_000), ContinuousBatching(run_spec("serving.max_batch_tokens=16").serving),
                 KV).run(table)
    attention = COST.prefill_attention_time_s
    prefill = (COST.fc_time_s(16, 0) + COST.fc_time_s(16, 0) + COST.fc_time_s(8, 1)
               + float(attention(np.array([16, 16, 8]), np.array([0, 16, 32])).sum()))
    decodes = [COST.fc_time_s(1, 1) + COST.decode_attention_time_s(40 + g) for g in (1, 2)]
    assert rec.iterations == 5
    assert table.first_token_s[0] == pytest.approx(prefill, rel=1e-12)
    assert table.finish_s[0] == pytest.approx(prefill + sum(decodes), rel=1e-12)


def test_a_stretch_whose_reservations_are_outgrown_part_way_is_searched():
    """Two decoding requests, each storing 4 tokens with 3 blocks of 4 reserved (more than they hold now,
    fewer than they will): iteration j stores 5 + j tokens, 3 blocks while 5 + j <= 12, 4 after. With 7
    blocks, iterations j = 0..7 fit (6 blocks) and j = 8 does not (8): 8 iterations."""
    table = _table(2, prompt=4, output=50)
    kv = KVStore(capacity_blocks=7, block_tokens=4, watermark_blocks=0)
    table.prefill_done[:] = table.prefill_target
    table.kv_tokens[:], table.generated[:], table.reserved_blocks[:] = 4, 1, 3
    state = ReplicaState(table, kv, running=[0, 1])
    ids = np.array([0, 1])
    assert kv.iterations_that_fit(0, table.reserved_blocks[ids], table.kv_tokens[ids], 20) is None  # the search
    assert _engine(_continuous(), kv)._iterations_until_full(state, ids, 20) == 8
    assert _engine(_continuous(), kv)._iterations_until_full(state, ids, 5) == 5


def test_l3_scheduler_needs_a_system_that_times_sub_batches():
    with pytest.raises(ConfigError, match="needs a system that times sub-batches"):
        build_scheduler("l3", run_spec().serving, fake_system(1000))
    with pytest.raises(ConfigError, match="needs a system"):
        build_scheduler("l3", run_spec().serving, None)
