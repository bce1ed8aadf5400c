"""One iteration's plan of the continuous, sub-batch and capacity-first schedulers, worked out by hand.

The engine tests check these schedulers over whole runs (invariants, closed form against stepping);
here each rule of the module docstrings (vLLM's order: decodes within the token budget, pre-emption of
the latest admitted until the decodes fit, prefill chunks, FCFS admission under the budget, the
sequence limit and the watermark; the snake deal of the sub-batches) is checked on a state small
enough to work through by hand, including the boundaries (a reservation that exactly fills the
admissible blocks, equal GPU tokens in both sub-batches).
"""

from __future__ import annotations

from collections import deque

import numpy as np

from l3sim.serving.kvstore import KVStore
from l3sim.serving.schedulers.capacity_first import CapacityFirstScheduler
from l3sim.serving.schedulers.continuous import ContinuousBatching
from l3sim.serving.schedulers.subbatch import SubBatchScheduler, prefill_split, snake_split
from l3sim.serving.state import ReplicaState, RequestTable
from l3sim.spec.run import ServingSpec


def _state(prompts, kv: KVStore, *, decoding=(), prefilled=None, waiting=(), kv_tokens=None) -> ReplicaState:
    """Requests 0..n-1 with these prompts; ``decoding`` have finished their prefill (their stored tokens
    ``kv_tokens``, default the prompt), ``prefilled`` maps a running request still in prefill to the
    prompt tokens it has done; ``waiting`` in queue order. Running = decoding, then the prefilling ones."""
    n = len(prompts)
    table = RequestTable(ids=np.arange(n), arrival_s=np.zeros(n), prompt_tokens=np.array(prompts),
                         output_tokens=np.full(n, 100))
    prefilled = prefilled or {}
    for rid in decoding:
        table.prefill_done[rid] = prompts[rid]
        table.kv_tokens[rid] = prompts[rid] if kv_tokens is None else kv_tokens[rid]
        table.generated[rid] = 1
    for rid, done in prefilled.items():
        table.prefill_done[rid] = done
        table.kv_tokens[rid] = done
    running = [*decoding, *prefilled]
    table.reserved_blocks[running] = kv.blocks_for(table.prompt_tokens[running])
    return ReplicaState(table, kv, running=running, waiting=deque(waiting))


BIG = KVStore(capacity_blocks=10_000, block_tokens=16, watermark_blocks=0)


def test_budget_goes_to_decodes_then_prefill_chunks_then_admissions():
    """Budget 10: request 0 decodes (1 token, 9 left); request 1, 12 of 20 prompt tokens done, gets its 8
    (1 left); request 2 (5 tokens) is admitted with a chunk of 1; the budget is spent, request 3 waits."""
    state = _state([4, 20, 5, 4], BIG, decoding=[0], prefilled={1: 12}, waiting=[2, 3])
    plan = ContinuousBatching(ServingSpec(max_batch_tokens=10)).plan(state)
    assert plan.decode_ids.tolist() == [0]
    assert plan.prefill_ids.tolist() == [1, 2]
    assert plan.prefill_chunk_tokens.tolist() == [8, 1]
    assert plan.prefill_done_tokens.tolist() == [12, 0]
    assert plan.admit_ids == (2,) and plan.preempt_ids == ()
    assert not plan.steady  # prefills run
    assert plan.sub_batches == ()


def test_a_budget_smaller_than_the_decodes_takes_them_in_admission_order():
    """Budget 2, three decoding requests: the first two decode, nothing is left to admit with; a
    decode-only plan repeats (steady)."""
    state = _state([3, 3, 3, 3], BIG, decoding=[0, 1, 2], waiting=[3])
    plan = ContinuousBatching(ServingSpec(max_batch_tokens=2)).plan(state)
    assert plan.decode_ids.tolist() == [0, 1]
    assert plan.prefill_ids.tolist() == [] and plan.admit_ids == ()
    assert plan.steady


def test_a_prefill_chunk_of_zero_is_left_out():
    """Budget 3, three decodes: no budget is left for request 3's prefill (10 of 16 done): no chunk."""
    state = _state([3, 3, 3, 16], BIG, decoding=[0, 1, 2], prefilled={3: 10})
    plan = ContinuousBatching(ServingSpec(max_batch_tokens=3)).plan(state)
    assert plan.decode_ids.tolist() == [0, 1, 2]
    assert plan.prefill_ids.tolist() == [] and plan.prefill_chunk_tokens.tolist() == []


def test_the_latest_admitted_is_preempted_until_the_decodes_fit():
    """4 blocks of 4 tokens. Request 0 holds 8 tokens and grows to 9: 3 blocks; request 1 holds 4 tokens,
    grows to 5: 2 blocks; 5 > 4, so request 1 (admitted last) goes; request 0 alone fits. Nothing is
    admitted in an iteration that pre-empts, even a request that would fit."""
    kv = KVStore(capacity_blocks=4, block_tokens=4, watermark_blocks=0)
    state = _state([8, 4, 1], kv, decoding=[0, 1], waiting=[2])
    plan = ContinuousBatching(ServingSpec(max_batch_tokens=100)).plan(state)
    assert plan.preempt_ids == (1,)
    assert plan.decode_ids.tolist() == [0]
    assert plan.admit_ids == () and plan.prefill_ids.tolist() == []
    assert plan.steady  # a pre-emption does not break a decode-only plan


def test_admission_stops_at_the_sequence_limit_and_first_come_first_served():
    """At most 2 sequences, one running: one admission (request 1), though the budget has room for all."""
    state = _state([2, 3, 3, 3], BIG, decoding=[0], waiting=[1, 2, 3])
    plan = ContinuousBatching(ServingSpec(max_batch_tokens=100, max_num_seqs=2)).plan(state)
    assert plan.admit_ids == (1,)
    assert plan.prefill_ids.tolist() == [1] and plan.prefill_chunk_tokens.tolist() == [3]
    unlimited = ContinuousBatching(ServingSpec(max_batch_tokens=100, max_num_seqs=0)).plan(state)
    assert unlimited.admit_ids == (1, 2, 3)


def test_admission_keeps_the_watermark_free_up_to_the_last_block():
    """10 blocks of 4 tokens, watermark 2: 8 admissible. Request 0 holds 20 tokens (5 blocks) and grows to
    21 (6 blocks). A prompt of 8 tokens (2 blocks) fills the 8 exactly: admitted; one of 9 tokens (3) is not,
    and the queue does not skip it for a later one that would fit."""
    kv = KVStore(capacity_blocks=10, block_tokens=4, watermark_blocks=2)
    fits = _state([20, 8, 1], kv, decoding=[0], waiting=[1, 2])
    assert ContinuousBatching(ServingSpec(max_batch_tokens=100, max_num_seqs=2)).plan(fits).admit_ids == (1,)
    blocked = _state([20, 9, 1], kv, decoding=[0], waiting=[1, 2])
    assert ContinuousBatching(ServingSpec(max_batch_tokens=100)).plan(blocked).admit_ids == ()


def _decoding_table(contexts) -> RequestTable:
    n = len(contexts)
    table = RequestTable(ids=np.arange(n), arrival_s=np.zeros(n), prompt_tokens=np.ones(n, dtype=np.int64),
                         output_tokens=np.full(n, 100))
    table.kv_tokens[:] = contexts
    return table


def test_snake_deal_of_the_decodes_by_context():
    """Contexts 5, 9, 7, 9, 1 (requests 0-4): longest first, ties by request: 1, 3, 2, 0, 4; dealt to
    sub-batches 0, 1, 1, 0, 0: sub-batch 0 = {1, 0, 4}, sub-batch 1 = {3, 2} (positions, sorted)."""
    table = _decoding_table([5, 9, 7, 9, 1])
    first, second = snake_split(np.arange(5), table)
    assert first.tolist() == [0, 1, 4] and second.tolist() == [2, 3]
    # positions into the decode list, not request ids: the same requests listed in reverse
    first, second = snake_split(np.array([4, 3, 2, 1, 0]), table)
    assert first.tolist() == [0, 3, 4] and second.tolist() == [1, 2]


def test_snake_deal_of_random_decodes_alternates_pairs():
    """Any size and contexts (ties included): sub-batch 0 holds the ranks 0, 3, 4, 7, 8, ... of the order by
    longest context then request index, sub-batch 1 the others; both sorted positions, together all of them."""
    rng = np.random.default_rng(2)
    for size in range(0, 23):
        table = _decoding_table(rng.integers(1, 6, 40).tolist())
        ids = rng.choice(40, size, replace=False)
        ranked = sorted(range(size), key=lambda pos: (-table.kv_tokens[ids[pos]], ids[pos]))
        expected = ([pos for k, pos in enumerate(ranked) if k % 4 in (0, 3)],
                    [pos for k, pos in enumerate(ranked) if k % 4 in (1, 2)])
        first, second = snake_split(ids, table)
        assert (sorted(expected[0]), sorted(expected[1])) == (first.tolist(), second.tolist())
        assert first.dtype == second.dtype == np.int64


def test_prefill_chunks_go_to_the_sub_batch_with_fewer_gpu_tokens():
    """Decodes (3, 2); chunks 5, 2, 4: the 5 to sub-batch 1 (2 < 3: 3, 7), the 2 to 0 (3 <= 7: 5, 7), the 4 to
    0 (5 <= 7: 9, 7). On a tie the chunk goes to sub-batch 0."""
    zero, one = prefill_split(np.array([5, 2, 4]), (3, 2))
    assert zero.tolist() == [1, 2] and one.tolist() == [0]
    zero, one = prefill_split(np.array([3]), (2, 2))
    assert zero.tolist() == [0] and one.tolist() == []
    assert zero.dtype == one.dtype == np.int64


def test_subbatch_splits_the_continuous_plan():
    """Budget 10: decodes 0, 1, 2 (contexts 30, 50, 40: dealt 1 | 2, 0 -> positions [1] and [0, 2]), then
    request 3's prompt of 4 tokens goes to the sub-batch with fewer decodes (sub-batch 0, 1 < 2)."""
    state = _state([30, 50, 40, 4], BIG, decoding=[0, 1, 2], waiting=[3])
    plan = SubBatchScheduler(ServingSpec(max_batch_tokens=10)).plan(state)
    assert plan.decode_ids.tolist() == [0, 1, 2]
    assert [s.tolist() for s in plan.sub_batches] == [[1], [0, 2]]
    assert plan.prefill_ids.tolist() == [3] and plan.admit_ids == (3,)
    assert [s.tolist() for s in plan.prefill_sub_batches] == [[0], []]
    assert plan.prefill_chunk_tokens.tolist() == [4] and plan.prefill_done_tokens.tolist() == [0]
    assert not plan.steady


def test_capacity_first_admits_every_prompt_that_fits_whole():
    """A token budget of 4 does not bind capacity-first: prompts of 50 and 60 are admitted and prefilled
    whole. Blocks of 16 tokens: the decode holds 38 (600 tokens, 601 after its step), the two prompts 4 each
    (50 and 60 tokens), 46 of 100; the prompt of 1,000 tokens needs 63: it waits, and so does the one behind
    it (first come, first served)."""
    kv = KVStore(capacity_blocks=100, block_tokens=16, watermark_blocks=0)
    state = _state([600, 50, 60, 1000, 1], kv, decoding=[0], waiting=[1, 2, 3, 4])
    plan = CapacityFirstScheduler(ServingSpec(max_batch_tokens=4)).plan(state)
    assert plan.admit_ids == (1, 2)
    assert plan.prefill_chunk_tokens.tolist() == [50, 60]
    assert plan.decode_ids.tolist() == [0]
    assert len(plan.sub_batches) == 2


def test_prefill_budget_is_shared_in_admission_order_and_nothing_is_left_for_admission():
    """Budget 10, no decodes, three requests each 8 prompt tokens short: chunks 8, 2 and none (the third
    gets nothing and is left out); the waiting request is not admitted (no budget left)."""
    state = _state([16, 16, 16, 3], BIG, prefilled={0: 8, 1: 8, 2: 8}, waiting=[3])
    plan = ContinuousBatching(ServingSpec(max_batch_tokens=10)).plan(state)
    assert plan.prefill_ids.tolist() == [0, 1] and plan.prefill_chunk_tokens.tolist() == [8, 2]
    assert plan.admit_ids == ()


def test_a_prefill_chunk_of_one_token_is_kept():
    """Budget 2: one decode, then 1 token for request 1's prefill (5 short)."""
    state = _state([3, 10], BIG, decoding=[0], prefilled={1: 5})
    plan = ContinuousBatching(ServingSpec(max_batch_tokens=2)).plan(state)
    assert plan.prefill_ids.tolist() == [1] and plan.prefill_chunk_tokens.tolist() == [1]


def test_decodes_that_exactly_fill_the_cache_are_not_preempted():
    """4 blocks of 4 tokens: request 0 grows from 8 to 9 tokens (3 blocks), request 1 from 3 to 4 (1 block):
    4 blocks, exactly the capacity: both decode."""
    kv = KVStore(capacity_blocks=4, block_tokens=4, watermark_blocks=0)
    plan = ContinuousBatching(ServingSpec(max_batch_tokens=100)).plan(_state([8, 3], kv, decoding=[0, 1]))
    assert plan.preempt_ids == () and plan.decode_ids.tolist() == [0, 1]


def test_the_sequence_limit_counts_each_admission_once():
    """Limit 3, one running: two admissions."""
    state = _state([2, 3, 3, 3], BIG, decoding=[0], waiting=[1, 2, 3])
    assert ContinuousBatching(ServingSpec(max_batch_tokens=100, max_num_seqs=3)).plan(state).admit_ids == (1, 2)


def test_an_idle_replica_plans_nothing_and_is_not_steady():
    plan = ContinuousBatching(ServingSpec(max_batch_tokens=8)).plan(_state([], BIG))
    assert plan.decode_ids.tolist() == [] and plan.prefill_ids.tolist() == [] and not plan.steady


def test_the_system_is_kept_for_subclasses_that_ask_it():
    system = object()
    assert ContinuousBatching(ServingSpec(), system).system is system
    assert CapacityFirstScheduler(ServingSpec(), system).system is system


def test_prefill_split_accumulates_and_returns_index_arrays():
    """Chunks of 1 token each with no decodes alternate 0, 1, 0, 1 (ties to sub-batch 0); a lane that gets
    nothing is an empty integer index array (it indexes the prefill ids)."""
    zero, one = prefill_split(np.array([1, 1, 1, 1]), (0, 0))
    assert zero.tolist() == [0, 2] and one.tolist() == [1, 3]
    zero, one = prefill_split(np.array([1]), (5, 0))
    assert zero.tolist() == [] and one.tolist() == [0]
    assert zero.dtype == one.dtype == np.int64


def test_subbatch_prefill_goes_beside_the_sub_batch_with_fewer_decodes():
    """Five decodes dealt 0, 1, 1, 0, 0: three in sub-batch 0, two in 1, so the prompt goes to sub-batch 1."""
    state = _state([50, 40, 30, 20, 10, 4], BIG, decoding=[0, 1, 2, 3, 4], waiting=[5])
    plan = SubBatchScheduler(ServingSpec(max_batch_tokens=10)).plan(state)
    assert [s.size for s in plan.sub_batches] == [3, 2]
    assert [s.tolist() for s in plan.prefill_sub_batches] == [[], [0]]


def test_subbatch_keeps_the_preemptions_and_the_steady_flag():
    """The pre-emption case above, split: request 1 pre-empted, request 0 decodes alone, steady."""
    kv = KVStore(capacity_blocks=4, block_tokens=4, watermark_blocks=0)
    plan = SubBatchScheduler(ServingSpec(max_batch_tokens=100)).plan(_state([8, 4, 1], kv, decoding=[0, 1], waiting=[2]))
    assert plan.preempt_ids == (1,) and plan.decode_ids.tolist() == [0]
    assert plan.steady is True


def test_capacity_first_chunks_are_whole_token_counts():
    """A running prompt 100 tokens short gets all 100 in one chunk, an integer."""
    state = _state([3, 150], BIG, decoding=[0], prefilled={1: 50})
    plan = CapacityFirstScheduler(ServingSpec(max_batch_tokens=4)).plan(state)
    assert plan.prefill_chunk_tokens.tolist() == [100]
    assert plan.prefill_chunk_tokens.dtype == np.int64


def test_the_two_latest_admitted_go_latest_first_and_an_exact_fit_stays():
    """6 blocks of 4 tokens. Requests 0 and 1 hold 8 tokens and grow to 9 (3 blocks each), 2 and 3 hold 4 and
    grow to 5 (2 blocks each): 10 > 6. Dropping 3 leaves 8, dropping 2 leaves 6 = the capacity: both go,
    latest admitted first, and request 1, whose blocks make the sum exactly 6, stays."""
    kv = KVStore(capacity_blocks=6, block_tokens=4, watermark_blocks=0)
    state = _state([8, 8, 4, 4], kv, decoding=[0, 1, 2, 3])
    plan = ContinuousBatching(ServingSpec(max_batch_tokens=100)).plan(state)
    assert plan.preempt_ids == (3, 2)
    assert plan.decode_ids.tolist() == [0, 1]


def test_preemption_under_a_token_budget_smaller_than_the_decodes():
    """Budget 2, four requests holding 8 tokens each (blocks of 4): only requests 0 and 1 decode (to 9 tokens,
    3 blocks each); 2 and 3 keep their 2 blocks: 10 in all.
    - capacity 8: dropping request 3 leaves 3 + 3 + 2 = 8: it fits; 0 and 1 still decode, 2 still waits for
      budget;
    - capacity 5: dropping 3 leaves 8, dropping 2 leaves 6, dropping 1 leaves 3: three go, latest first."""
    for capacity, preempted, decoding in ((8, (3,), [0, 1]), (5, (3, 2, 1), [0])):
        kv = KVStore(capacity_blocks=capacity, block_tokens=4, watermark_blocks=0)
        state = _state([8, 8, 8, 8], kv, decoding=[0, 1, 2, 3])
        plan = ContinuousBatching(ServingSpec(max_batch_tokens=2)).plan(state)
        assert plan.preempt_ids == preempted
        assert plan.decode_ids.tolist() == decoding
