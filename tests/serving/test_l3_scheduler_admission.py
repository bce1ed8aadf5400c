"""The L3 scheduler's admission candidates, its "nothing to decide" shortcut, and what it hands its policy, by
hand (issue 17 item 7: the ``l3`` mutants in ``L3Scheduler._candidates``, ``plan`` and ``_decide``).

On the hand system of ``test_l3_scheduler_behaviour`` (1 ms per GPU token, 0.05 ms per context token) with its
exact predictor, so the policy runs as Python (``form_sub_batches``). KV blocks hold 16 tokens. A decode's step
attends over its stored tokens plus the one it appends: a request with 99 stored tokens has a context of 100.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest
from test_l3_scheduler_behaviour import MS, HandPredictor, hand_system
from test_l3_scheduler_engine import _spec

from l3sim.errors import ConfigError
from l3sim.serving.kvstore import KVStore
from l3sim.serving.schedulers import build_scheduler
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


def test_decodes_that_use_up_the_budget_keep_the_sub_batches_while_an_admitted_prompt_waits():
    """Requests 0 and 1 decode; request 2 was admitted earlier and has prefilled 5 of its 20 prompt tokens (2
    blocks reserved). A budget of 2 tokens goes to the 2 decodes, none is left for request 2's prefill. Plan 1
    places the two decodes (a decision) and prefills nothing. Plan 2, nothing changed: no decode to place, and
    the only candidate, the admitted prefill, can get no token: nothing to decide, so the sub-batches are kept
    as plan 1 formed them and only one decision is recorded over both plans."""
    scheduler = _scheduler(max_batch_tokens=2)
    state = _decoding_state(capacity_blocks=100, prompt=20)
    table = state.table
    table.prefill_done[2], table.kv_tokens[2], table.slot[2], table.reserved_blocks[2] = 5, 5, 0, 2
    state.running.append(2)
    system = scheduler.system
    plans = []
    for _ in range(2):
        plans.append(scheduler.plan(state))
        scheduler.observe(plans[-1], system.iteration_cost(plans[-1], table))
    first, second = plans
    assert first.prefill_ids.size == 0 and sorted(first.decode_ids.tolist()) == [0, 1]
    assert second.prefill_ids.size == 0 and second.admit_ids == ()
    assert [first.decode_ids[ids].tolist() for ids in first.sub_batches] == \
        [second.decode_ids[ids].tolist() for ids in second.sub_batches]
    assert len(scheduler.accuracy) == 2  # one decision (two stage rows), plan 1's


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
    """Kept through planning too: only a scheduler without predictors trains them at its first plan."""
    predictor = HandPredictor()
    scheduler = L3Scheduler(_spec().serving, hand_system(slots=1), predictor=predictor)
    assert scheduler.predictor is predictor
    scheduler.plan(_queue_state())
    assert scheduler.predictor is predictor


def test_a_system_that_cannot_time_sub_batches_is_refused_with_the_reason():
    system = GPUOnlySystem(type("Cost", (), {"kv_capacity_bytes": 1.0, "fits": True, "does_not_fit_reason": "",
                                             "fc_time_s": lambda self, n, k: 0.0})(), 8)
    with pytest.raises(ConfigError, match=r"^scheduler 'l3' needs a system that times sub-batches \(an "
                                          r"attention-FC disaggregated system such as --system l3\)$"):
        L3Scheduler(_spec().serving, system)


def _decoding_requests(stored: list[int], capacity_blocks: int = 100_000,
                       prompts: list[int] | None = None) -> ReplicaState:
    """Requests decoding over ``stored`` tokens each (slot 0, their blocks reserved), plus, if ``prompts``, more
    requests (prompt, 10 output tokens) in the table but neither running nor waiting."""
    prompts = prompts or []
    n = len(stored) + len(prompts)
    table = RequestTable(ids=np.arange(n), arrival_s=np.zeros(n), prompt_tokens=np.array([10] * len(stored) + prompts),
                         output_tokens=np.array([1000] * len(stored) + [10] * len(prompts)))
    kv = KVStore(capacity_blocks, 16, 0)
    ids = np.arange(len(stored))
    table.prefill_done[ids] = 10
    table.kv_tokens[ids] = stored
    table.generated[ids] = 1
    table.slot[ids] = 0
    table.reserved_blocks[ids] = kv.blocks_for(table.kv_tokens[ids] + 1)
    return ReplicaState(table, kv, running=ids.tolist(), waiting=deque())


@pytest.mark.parametrize("stored_0, lane", [(301, 0), (303, 1)])
def test_kept_decodes_are_balanced_over_their_stored_tokens_plus_the_step(stored_0, lane):
    """``regroup = "never"``: request 0 keeps sub-batch 0, requests 1-3 (100 stored tokens each) sub-batch 1;
    request 4 (49 stored: context 50) is new and is the only decode to place, so it goes to the sub-batch with
    the shorter phase max(T_GPU_i, T_PIM_i) (ties: 0). T_GPU_0 = 3 ms, T_GPU_1 = 1 ms; the PIM side is longer:

    - request 0 with 301 stored: contexts 302 against 3 x 101 = 303 -> 15.1 < 15.15 ms: sub-batch 0, which then
      attends over 352 tokens (17.6 ms; T_GPU_1 = 2 ms);
    - with 303 stored: 304 against 303 -> 15.2 > 15.15 ms: sub-batch 1, 353 tokens (17.65 ms; T_GPU_0 = 4 ms).

    The stored tokens alone (301 vs 300, 303 vs 300) would put the first in sub-batch 1 and, with two tokens per
    kept decode (303 vs 306, 305 vs 306), the second in sub-batch 0: the answer depends on the + 1 per decode."""
    spec = _spec('schedulers.l3.regroup="never"')
    scheduler = build_scheduler("l3", spec.serving, hand_system(slots=1), spec.schedulers)
    scheduler.predictor = HandPredictor()
    state = _decoding_requests([stored_0, 100, 100, 100, 49])
    scheduler.lane = np.array([0, 1, 1, 1, -1])
    plan = scheduler.plan(state)
    assert scheduler.lane.tolist() == [0, 1, 1, 1, lane]
    sub_batches = [{0}, {1, 2, 3}]
    sub_batches[lane].add(4)
    # the system's sub-batch g runs the dense layers of the scheduler's sub-batch 1 - g
    assert [set(plan.decode_ids[ids].tolist()) for ids in plan.sub_batches] == sub_batches[::-1]
    _, gpu_pred, pim_pred = scheduler._pending
    if lane == 0:
        expected_gpu, expected_pim = [3, 2], [0.05 * 352, 0.05 * 303]
    else:
        expected_gpu, expected_pim = [4, 1], [0.05 * 304, 0.05 * 353]
    assert np.asarray(gpu_pred) == pytest.approx(np.array(expected_gpu) * MS, rel=1e-12)
    assert np.asarray(pim_pred) == pytest.approx(np.array(expected_pim) * MS, rel=1e-12)


@pytest.mark.parametrize("overrides, chunk", [((), 16), (("schedulers.l3.min_chunk_tokens=8",), 8)])
def test_a_prefill_cut_below_the_minimum_gets_the_configured_minimum(overrides, chunk):
    """Request 0 decodes over 99 stored tokens (context 100, 7 blocks); request 1 was admitted and has prefilled
    40 of its 100 prompt tokens (7 blocks reserved); request 2 (prompt 10) waits. The cache has 14 blocks, all
    held, so request 2 does not fit: memory is full. The policy puts request 1's 60 remaining tokens in
    sub-batch 0 (T_GPU_0 = 60 ms) and request 0's decode beside it (T_PIM_0 = 5 ms); sub-batch 1 is empty.
    Cut: the longest chunk c with T_GPU_0 = c ms <= 5 ms is 5 tokens, below the minimum chunk, so the chunk is
    the minimum: 16 by default (``schedulers.l3.min_chunk_tokens``), 8 when set to 8."""
    spec = _spec(*overrides)
    scheduler = build_scheduler("l3", spec.serving, hand_system(slots=1), spec.schedulers)
    scheduler.predictor = HandPredictor()
    state = _decoding_requests([99], capacity_blocks=14, prompts=[100, 10])
    table = state.table
    table.prefill_done[1], table.kv_tokens[1], table.slot[1], table.reserved_blocks[1] = 40, 40, 0, 7
    state.running.append(1)
    state.waiting.append(2)
    plan = scheduler.plan(state)
    assert plan.admit_ids == ()
    assert plan.prefill_ids.tolist() == [1] and plan.prefill_chunk_tokens.tolist() == [chunk]
    assert plan.prefill_done_tokens.tolist() == [40]
    assert plan.decode_ids.tolist() == [0]
    _, gpu_pred, pim_pred = scheduler._pending  # T_GPU_0 = the chunk, T_GPU_1 = 1 decode; T_PIM = (5, 0) ms
    assert np.asarray(gpu_pred) == pytest.approx(np.array([chunk, 1]) * MS, rel=1e-12)
    assert np.asarray(pim_pred) == pytest.approx(np.array([5, 0]) * MS, rel=1e-12, abs=1e-15)
