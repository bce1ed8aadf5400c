"""The L3 scheduler's admission candidates and its "nothing to decide" shortcut, by hand (issue 17 item 7: the
``l3`` mutants in ``L3Scheduler._candidates`` and ``plan``).

On the hand system of ``test_l3_scheduler_behaviour`` (1 ms per GPU token, 0.05 ms per context token) with its
exact predictor. KV blocks hold 16 tokens.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest
from test_l3_scheduler_behaviour import HandPredictor, hand_system
from test_l3_scheduler_engine import _spec

from l3sim.errors import ConfigError
from l3sim.serving.kvstore import KVStore
from l3sim.serving.schedulers.l3 import L3Scheduler, Prefill
from l3sim.serving.state import ReplicaState, RequestTable
from l3sim.serving.systems.gpu_only import GPUOnlySystem


def _scheduler(**serving) -> L3Scheduler:
    scheduler = L3Scheduler(_spec().serving.model_copy(update=serving), hand_system(slots=1))
    scheduler.predictor = HandPredictor()
    return scheduler


def _queue_state(reservation: str = "full") -> ReplicaState:
    """Request 0 admitted, 40 of its 100 prompt tokens prefilled; waiting: 1 (prompt 50, output 31: 80 tokens
    in its life, 5 blocks), 2 (70, 27: 96 tokens, 6 blocks), 3 (30, 3: 32 tokens, 2 blocks)."""
    table = RequestTable(ids=np.arange(4), arrival_s=np.zeros(4), prompt_tokens=np.array([100, 50, 70, 30]),
                         output_tokens=np.array([10, 31, 27, 3]))
    table.prefill_done[0] = 40
    kv = KVStore(100, 16, 0, reservation)
    return ReplicaState(table, kv, running=[0], waiting=deque([1, 2, 3]))


def _candidates(scheduler: L3Scheduler, room: int, budget: int, admit: bool = True) -> list[Prefill]:
    return scheduler._candidates(_queue_state(), np.array([0]), room, budget, admit=admit, running=1)


ADMITTED = Prefill(0, 60, 40, 0)
ONE, TWO, THREE = Prefill(1, 50, 0, 5), Prefill(2, 70, 0, 6), Prefill(3, 30, 0, 2)


def test_candidates_are_the_admitted_then_the_queue_with_whole_life_blocks():
    assert _candidates(_scheduler(), room=20, budget=1000) == [ADMITTED, ONE, TWO, THREE]


def test_candidates_stop_after_the_first_request_that_overdraws_the_room():
    """Room 10: request 1 leaves 5, request 2 (6 blocks) takes it to -1 and is the last candidate; room 11
    leaves exactly 0 after request 2, so request 3 is still asked."""
    assert _candidates(_scheduler(), room=10, budget=1000) == [ADMITTED, ONE, TWO]
    assert _candidates(_scheduler(), room=11, budget=1000) == [ADMITTED, ONE, TWO, THREE]


def test_candidates_stop_once_the_tokens_reach_the_budget():
    """60 + 50 = 110 < 180, + 70 = 180: the budget is reached, request 3 is not asked."""
    assert _candidates(_scheduler(), room=100, budget=180) == [ADMITTED, ONE, TWO]
    assert _candidates(_scheduler(), room=100, budget=181) == [ADMITTED, ONE, TWO, THREE]


@pytest.mark.parametrize("max_seqs, expected", [(2, [ADMITTED, ONE]), (3, [ADMITTED, ONE, TWO])])
def test_candidates_respect_the_sequence_limit(max_seqs, expected):
    """One request running: a limit of 2 lets one more in, 3 two more."""
    assert _candidates(_scheduler(max_num_seqs=max_seqs), room=100, budget=1000) == expected


def test_no_admission_leaves_only_the_admitted():
    assert _candidates(_scheduler(), room=100, budget=1000, admit=False) == [ADMITTED]


def _decoding_state(capacity_blocks: int, prompt: int) -> ReplicaState:
    """Requests 0 and 1 decode over 99 and 59 stored tokens (7 and 4 blocks, also after this step's token);
    request 2 (``prompt`` tokens) is in the table but not yet in the queue."""
    table = RequestTable(ids=np.arange(3), arrival_s=np.zeros(3), prompt_tokens=np.array([10, 10, prompt]),
                         output_tokens=np.array([500, 500, 50]))
    table.prefill_done[:2] = 10
    table.kv_tokens[:2] = [99, 59]
    table.generated[:2] = 1
    table.slot[:2] = 0
    table.reserved_blocks[:2] = [7, 4]
    return ReplicaState(table, KVStore(capacity_blocks, 16, 0), running=[0, 1], waiting=deque())


def _second_plan(capacity_blocks: int, prompt: int, max_batch_tokens: int):
    """Plan 1 places the two decodes (a decision); then request 2 arrives and plan 2 runs. Returns plan 2 and
    how many decisions the scheduler recorded over both plans (two stage rows per decision)."""
    scheduler = _scheduler(max_batch_tokens=max_batch_tokens)
    state = _decoding_state(capacity_blocks, prompt)
    system = scheduler.system
    plan = scheduler.plan(state)
    scheduler.observe(plan, system.iteration_cost(plan, state.table))
    state.waiting.append(2)
    plan = scheduler.plan(state)
    scheduler.observe(plan, system.iteration_cost(plan, state.table))
    return plan, len(scheduler.accuracy) // 2


def test_no_token_budget_left_keeps_the_sub_batches_without_a_decision():
    """A budget of 2 tokens goes to the 2 decodes: nothing to prefill, nothing to place: one decision only."""
    plan, decisions = _second_plan(capacity_blocks=100, prompt=20, max_batch_tokens=2)
    assert plan.prefill_ids.size == 0 and decisions == 1


def test_one_token_of_budget_prefills_one_token():
    plan, decisions = _second_plan(capacity_blocks=100, prompt=20, max_batch_tokens=3)
    assert plan.prefill_ids.tolist() == [2] and plan.prefill_chunk_tokens.tolist() == [1] and decisions == 2


def test_budget_left_after_the_decodes_chunks_the_prompt():
    """A budget of 64 tokens less the 2 decodes: the 100-token prompt gets a chunk of 62."""
    plan, _ = _second_plan(capacity_blocks=100, prompt=100, max_batch_tokens=64)
    assert plan.prefill_chunk_tokens.tolist() == [62]


def test_a_prompt_that_needs_exactly_the_free_blocks_is_admitted():
    """13 blocks, 7 + 4 held: 2 free, and the 20-token prompt needs 2."""
    plan, decisions = _second_plan(capacity_blocks=13, prompt=20, max_batch_tokens=1000)
    assert plan.admit_ids == (2,) and decisions == 2


def test_a_full_cache_keeps_the_sub_batches_without_a_decision():
    """11 blocks, all held: the 10-token prompt needs 1 and waits; no decision."""
    plan, decisions = _second_plan(capacity_blocks=11, prompt=10, max_batch_tokens=1000)
    assert plan.admit_ids == () and plan.prefill_ids.size == 0 and decisions == 1


def test_a_new_decode_is_placed_by_a_decision():
    """Request 2 is admitted and prefilled whole (20 tokens) in plan 2; in plan 3 it decodes: a new decode to
    place is a decision, though nothing waits."""
    scheduler = _scheduler(max_batch_tokens=1000)
    state = _decoding_state(100, 20)
    system = scheduler.system
    for arrive in (False, True):
        if arrive:
            state.waiting.append(2)
        plan = scheduler.plan(state)
        scheduler.observe(plan, system.iteration_cost(plan, state.table))
    assert plan.prefill_chunk_tokens.tolist() == [20]
    table = state.table
    state.waiting.popleft()
    state.running.append(2)
    table.prefill_done[2], table.kv_tokens[2], table.generated[2], table.slot[2] = 20, 20, 1, 0
    table.reserved_blocks[2] = 2
    plan = scheduler.plan(state)
    scheduler.observe(plan, system.iteration_cost(plan, state.table))
    assert sorted(plan.decode_ids.tolist()) == [0, 1, 2]
    assert len(scheduler.accuracy) == 6  # three decisions


def test_a_given_predictor_is_used():
    predictor = HandPredictor()
    assert L3Scheduler(_spec().serving, hand_system(slots=1), predictor=predictor).predictor is predictor


def test_a_system_that_cannot_time_sub_batches_is_refused_with_the_reason():
    system = GPUOnlySystem(type("Cost", (), {"kv_capacity_bytes": 1.0, "fits": True, "does_not_fit_reason": "",
                                             "fc_time_s": lambda self, n, k: 0.0})(), 8)
    with pytest.raises(ConfigError, match=r"^scheduler 'l3' needs a system that times sub-batches \(an "
                                          r"attention-FC disaggregated system such as --system l3\)$"):
        L3Scheduler(_spec().serving, system)
