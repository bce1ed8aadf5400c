"""The L3 policy on hand-checkable cases: closed-form stage times, assert which requests go where.

Stage model used throughout (milliseconds, as seconds x 1e-3):
  T_GPU_i = prefill tokens of i + decodes of the other sub-batch       (1 ms per token)
  T_PIM_i = 0.05 ms x decode context tokens of i + k ms x prefill tokens of i (its transfer)
"""

from __future__ import annotations

import numpy as np
import pytest

from l3sim.errors import ConfigError
from l3sim.serving.schedulers.l3 import Decode, Prefill, SubBatch, decode_step, form_sub_batches, stage_times

MS = 1e-3


class ClosedForm:
    def __init__(self, other_prefill_ms_per_token: float = 0.0) -> None:
        self.other = other_prefill_ms_per_token

    def gpu_s(self, chunk_tokens, done_tokens, num_decodes):
        return (np.sum(chunk_tokens) + np.asarray(num_decodes, dtype=float)) * MS

    def gpu_s_rows(self, head_chunks, head_done, last_chunks, last_done, num_decodes):
        return (np.sum(head_chunks) + np.asarray(last_chunks, dtype=float) + num_decodes) * MS

    def pim_s(self, decode_context_tokens, num_decodes, other_prefill_tokens):
        return (0.05 * np.asarray(decode_context_tokens, dtype=float) + self.other * np.asarray(other_prefill_tokens)) * MS


def empty(ranks: int = 8):
    return SubBatch(ranks), SubBatch(ranks)


def test_decode_step_is_one_for_mha_and_sixteen_for_gqa():
    assert decode_step(1) == 1
    assert decode_step(8) == 16


def test_decodes_added_until_pim_covers_gpu_then_leftover_to_shorter_phase():
    pool = [Decode(rid, 100, rank=rid - 10) for rid in range(10, 16)]  # 5 ms of PIM each
    prefills = [Prefill(1, 10, 0, 0), Prefill(2, 10, 0, 0)]
    formed = form_sub_batches(empty(), pool, prefills, room_blocks=100, token_budget=1000, step=1,
                              predictor=ClosedForm())
    sb0, sb1 = formed.sub_batches
    # sb0: prefill 1; T_GPU_0 = 10 + n1 = 10 while sb1 is empty, so two decodes (5n0 >= 10)
    # sb1: prefill 2; T_GPU_1 = 10 + n0 = 12, so three decodes (15 >= 12)
    # the last decode: phases max(13, 10) = 13 vs max(12, 15) = 15, so it goes to sb0
    assert sb0.prefill_ids == [1] and sb1.prefill_ids == [2]
    assert sb0.decode_ids == [10, 11, 15]
    assert sb1.decode_ids == [12, 13, 14]
    assert not formed.memory_full
    gpu, pim = stage_times(formed.sub_batches, ClosedForm())
    np.testing.assert_allclose(gpu, [13 * MS, 13 * MS])
    np.testing.assert_allclose(pim, [15 * MS, 15 * MS])


def test_step_of_sixteen_places_sixteen_at_a_time():
    pool = [Decode(rid, 1, rank=0) for rid in range(40)]
    formed = form_sub_batches(empty(), pool, [Prefill(1, 5, 0, 0)], room_blocks=10, token_budget=100, step=16,
                              predictor=ClosedForm())
    sb0, sb1 = formed.sub_batches
    # sb0 gets prefill 1 (T_GPU_0 = 5); 16 decodes of 0.05 ms do not cover it, but the step is 16 at a time:
    # 0.8 ms < 5 -> 16 more -> 1.6 < 5 -> the last 8. Nothing is left for sb1.
    assert sb0.num_decodes == 40 and sb1.num_decodes == 0


def test_rank_balance_picks_the_least_loaded_rank_of_the_sub_batch():
    kept = empty(ranks=2)
    kept[0].add_decode(100, 1000, rank=0)
    pool = [Decode(1, 50, rank=0), Decode(2, 10, rank=1)]
    formed = form_sub_batches(kept, pool, [], room_blocks=0, token_budget=0, step=1, predictor=ClosedForm())
    sb0, sb1 = formed.sub_batches
    # leftovers go to the shorter phase: sb1 (empty) first; within sb1 both ranks are empty -> longest context
    assert sb1.decode_ids[0] == 1
    # then phases: sb0 max(1, 50) = 50 ms, sb1 max(0 + 1, 2.5) = 2.5 ms -> sb1 again
    assert sb1.decode_ids == [1, 2] and sb0.decode_ids == [100]


def test_rank_balance_within_a_sub_batch():
    kept = empty(ranks=2)
    kept[1].add_decode(100, 1000, rank=0)  # sb1 is the longer phase and loaded on rank 0
    pool = [Decode(1, 400, rank=0), Decode(2, 10, rank=1)]
    formed = form_sub_batches(kept, pool, [Prefill(7, 30, 0, 0)], room_blocks=0, token_budget=100, step=1,
                              predictor=ClosedForm())
    sb0, sb1 = formed.sub_batches
    # prefill 7 -> sb0 (T_GPU_0 = 30 ms, T_PIM_0 = 0): sb0 has no rank load, so the longest context first
    assert sb0.decode_ids[0] == 1
    # after it T_PIM_0 = 20 < 30: the next pick; only request 2 is left
    assert sb0.decode_ids == [1, 2] and sb1.decode_ids == [100]


def test_memory_full_cuts_the_last_prefill_to_the_pim_time():
    kept = empty()
    for rid in range(4):
        kept[0].add_decode(rid, 100, rank=rid)
        kept[1].add_decode(10 + rid, 100, rank=rid)
    prefills = [Prefill(50, 30, 0, 0), Prefill(51, 30, 0, blocks=10)]
    formed = form_sub_batches(kept, [], prefills, room_blocks=5, token_budget=1000, step=1, predictor=ClosedForm())
    sb0, sb1 = formed.sub_batches
    assert formed.memory_full
    # T_PIM_0 = 0.05 x 400 = 20 ms; T_GPU_0 = c + 4 -> c = 16
    assert sb0.prefill_ids == [50] and sb0.prefill_chunks == [16]
    assert sb1.prefill_ids == []  # request 51 did not fit and nothing skips it


def test_room_left_means_no_cut():
    kept = empty()
    for rid in range(4):
        kept[0].add_decode(rid, 100, rank=rid)
    formed = form_sub_batches(kept, [], [Prefill(50, 60, 0, 0)], room_blocks=5, token_budget=1000, step=1,
                              predictor=ClosedForm())
    assert not formed.memory_full
    assert formed.sub_batches[0].prefill_chunks == [60]


def test_cut_counts_the_transfer_of_its_prefill_and_keeps_a_minimum_chunk():
    kept = empty()
    kept[0].add_decode(1, 100, rank=0)  # T_PIM_0 = 5 ms
    kept[1].add_decode(2, 20, rank=0)  # T_PIM_1 = 1 ms
    prefills = [Prefill(50, 40, 7, 0), Prefill(51, 20, 0, 0), Prefill(52, 30, 0, blocks=99)]
    predictor = ClosedForm(other_prefill_ms_per_token=0.5)
    formed = form_sub_batches(kept, [], prefills, room_blocks=0, token_budget=1000, step=1, predictor=predictor,
                              min_chunk_tokens=8)
    sb0, sb1 = formed.sub_batches
    # T_PIM_0 = 5 + 0.5 c; T_GPU_0 = c + 1 -> c + 1 <= 5 + 0.5 c -> c = 8
    assert sb0.prefill_chunks == [8] and sb0.prefill_done == [7]
    # sb1: c + 1 <= 1 + 0.5 c has no positive solution -> the minimum chunk, 8
    assert sb1.prefill_chunks == [8]
    # the predicted times handed back are those of the sub-batches as cut: T_GPU = (9, 9), T_PIM = (9, 5) ms
    np.testing.assert_allclose(formed.gpu_s, [9 * MS, 9 * MS])
    np.testing.assert_allclose(formed.pim_s, [9 * MS, 5 * MS])


def test_admitted_prefills_proceed_with_the_watermark_already_in_use():
    # running requests hold more than the admissible blocks (room < 0): admitted prefills hold their
    # reservation and still get chunks; a waiting request (blocks > 0) does not get in
    prefills = [Prefill(50, 30, 0, 0), Prefill(51, 30, 0, blocks=1)]
    formed = form_sub_batches(empty(), [], prefills, room_blocks=-3, token_budget=1000, step=1,
                              predictor=ClosedForm())
    assert formed.sub_batches[0].prefill_ids == [50] and formed.sub_batches[1].prefill_ids == []
    assert formed.memory_full


def test_token_budget_chunks_the_prefill_that_reaches_it():
    formed = form_sub_batches(empty(), [], [Prefill(1, 60, 0, 1), Prefill(2, 60, 0, 1), Prefill(3, 5, 0, 1)],
                              room_blocks=10, token_budget=70, step=1, predictor=ClosedForm())
    sb0, sb1 = formed.sub_batches
    assert (sb0.prefill_ids, sb0.prefill_chunks) == ([1], [60])
    assert (sb1.prefill_ids, sb1.prefill_chunks) == ([2], [10])


def test_fcfs_without_skipping():
    formed = form_sub_batches(empty(), [], [Prefill(1, 10, 0, 20), Prefill(2, 10, 0, 1)], room_blocks=10,
                              token_budget=100, step=1, predictor=ClosedForm())
    assert formed.sub_batches[0].prefill_ids == [] and formed.sub_batches[1].prefill_ids == []
    assert formed.memory_full


def test_bad_step_is_a_config_error():
    with pytest.raises(ConfigError, match="step"):
        form_sub_batches(empty(), [], [], 0, 0, 0, ClosedForm())


class _Linear:
    """T_GPU_i = g0 + g1 x prefill tokens; T_PIM_i = p0 + p1 x prefill tokens (milliseconds)."""

    def __init__(self, g0, g1, p0, p1):
        self.g0, self.g1, self.p0, self.p1 = g0, g1, p0, p1

    def gpu_s(self, chunk_tokens, done_tokens, num_decodes):
        return (self.g0 + self.g1 * np.sum(chunk_tokens) + 0 * np.asarray(num_decodes, dtype=float)) * MS

    def gpu_s_rows(self, head_chunks, head_done, last_chunks, last_done, num_decodes):
        return (self.g0 + self.g1 * (np.sum(head_chunks) + np.asarray(last_chunks, dtype=float))) * MS

    def pim_s(self, decode_context_tokens, num_decodes, other_prefill_tokens):
        return (self.p0 + self.p1 * np.asarray(other_prefill_tokens, dtype=float)) * MS


@pytest.mark.parametrize("seed", range(30))
def test_cut_picks_the_longest_fitting_candidate_as_asking_every_candidate_would(seed):
    rng = np.random.default_rng(seed)
    full, head = int(rng.integers(1, 5000)), int(rng.integers(1, 300))
    g1 = float(rng.uniform(0.01, 1.0))
    predictor = _Linear(float(rng.uniform(0, 5)), g1, float(rng.uniform(0, 2000)), g1 * float(rng.uniform(0, 0.9)))
    kept = empty()
    kept[0].add_decode(1, 100, rank=0)
    prefills = [Prefill(50, head, 0, 0), Prefill(51, 1, 0, 0), Prefill(52, full, 0, 0), Prefill(53, 9, 0, 99)]
    formed = form_sub_batches(kept, [], prefills, room_blocks=0, token_budget=100_000, step=1,
                              predictor=predictor, min_chunk_tokens=16)
    sb0 = formed.sub_batches[0]
    assert sb0.prefill_ids == [50, 52]
    head_tokens = sum(sb0.prefill_chunks[:-1])
    # brute force over the documented candidate lengths: 32 evenly spaced from the minimum chunk to the full one
    low = min(16, full)
    lengths = np.unique(np.linspace(low, full, min(32, full - low + 1)).round().astype(int))
    fitting = [c for c in lengths
               if predictor.g0 + g1 * (head_tokens + c) <= predictor.p0 + predictor.p1 * (head_tokens + c)]
    expected = max(fitting) if fitting else lengths[0]
    if predictor.g0 + g1 * (head_tokens + full) <= predictor.p0 + predictor.p1 * (head_tokens + full):
        expected = full  # GPU-bound only when the phase is: no cut at all
    assert sb0.prefill_chunks[-1] == expected


def test_cut_when_the_longest_fitting_length_is_the_one_before_the_full_prefill():
    # 30 candidates, 16..45 tokens: asked first every 4th (16, 20, ..., 44) and the last (45), which are
    # neighbours; T_GPU = 10 + c, T_PIM = 10 + 44 (ms): 44 fits, 45 does not
    kept = empty()
    kept[0].add_decode(1, 100, rank=0)
    class NoEmptyQuestions(_Linear):
        def gpu_s_rows(self, head_chunks, head_done, last_chunks, last_done, num_decodes):
            assert np.size(last_chunks) > 0
            return super().gpu_s_rows(head_chunks, head_done, last_chunks, last_done, num_decodes)

    predictor = NoEmptyQuestions(g0=0.0, g1=1.0, p0=54.0, p1=0.0)
    formed = form_sub_batches(kept, [], [Prefill(50, 10, 0, 0), Prefill(51, 1, 0, 0), Prefill(52, 45, 0, 0),
                                         Prefill(53, 9, 0, 99)],
                              room_blocks=0, token_budget=100_000, step=1, predictor=predictor, min_chunk_tokens=16)
    assert formed.sub_batches[0].prefill_chunks == [10, 44]


@pytest.mark.parametrize("seed", range(20))
def test_decode_pool_picks_as_a_scan_of_every_decode_would(seed):
    from l3sim.serving.schedulers.l3 import DecodePool

    rng = np.random.default_rng(seed)
    ranks = int(rng.integers(1, 9))
    decodes = [Decode(100 + k, int(rng.integers(1, 50)), int(rng.integers(0, ranks))) for k in range(40)]
    pool, scan, sb = DecodePool(list(decodes)), list(decodes), SubBatch(ranks)
    while scan:
        # the rule: least-loaded rank in the sub-batch, then the longest context, then pool order
        best = min(range(len(scan)), key=lambda k: (sb.rank_load[scan[k].rank], -scan[k].context_tokens,
                                                    decodes.index(scan[k])))
        expected = scan.pop(best)
        got = pool.pop_balanced(sb)
        assert got == expected and len(pool) == len(scan)
        sb.add_decode(got.rid, got.context_tokens, got.rank)


class _CountingCurve(ClosedForm):
    """ClosedForm with a T_GPU that is not affine in the decode count (so a wrong index shows), counting the
    decode counts it is asked about."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[int] = []

    def gpu_s(self, chunk_tokens, done_tokens, num_decodes):
        counts = np.atleast_1d(np.asarray(num_decodes))
        self.asked.extend(int(c) for c in counts)
        return (np.sum(chunk_tokens) + counts.astype(float) ** 2) * MS


@pytest.mark.parametrize("order", ["rising", "jumping"])
def test_gpu_curve_blocks_answer_every_count_as_one_call_would(order):
    """The leftover loop's T_GPU curve (``_GPUCurve``): asked in blocks, each count's answer is the one the
    predictor gives for it (T_GPU = prefill tokens + count^2 ms here), the counts asked are distinct, start
    at ``base``, never pass ``base + reach``, and the first block is the one requested."""
    from l3sim.serving.schedulers.l3 import _GPUCurve

    sb = SubBatch(4, prefill_chunks=[7], prefill_done=[0])
    predictor = _CountingCurve()
    curve = _GPUCurve(sb, predictor, base=3, reach=20, first_block=5)
    counts = list(range(3, 24)) if order == "rising" else [3, 4, 9, 10, 22, 23, 8]
    for count in counts:
        assert curve.at(count) == pytest.approx((7 + count**2) * MS, rel=1e-15)
    assert predictor.asked[:5] == [3, 4, 5, 6, 7]
    assert len(predictor.asked) == len(set(predictor.asked)) and max(predictor.asked) == 23
    assert sorted(predictor.asked) == list(range(3, 24))


def test_kept_sub_batch_holds_its_decodes_sums_and_rank_loads():
    """Kept decodes 4, 7, 9 with contexts 100, 50, 30 on ranks 0, 2, 0 (3 ranks): 180 tokens, 3 decodes, per-rank
    load 130, 0, 50 tokens."""
    sb = SubBatch.holding(3, np.array([4, 7, 9]), np.array([100, 50, 30]), np.array([0, 2, 0]))
    assert sb.decode_ids == [4, 7, 9] and sb.num_decodes == 3
    assert sb.decode_tokens == 180.0
    assert sb.rank_load == [130.0, 0.0, 50.0]


def test_leftovers_tie_goes_to_sub_batch_zero():
    """Two empty sub-batches, no prefill, decodes of 100 and 40 tokens: both phases are 0, so the first (the
    longest) goes to sub-batch 0; then phase 0 = max(0 + 0, 5) = 5 ms > phase 1 = max(1 ms for sub-batch 0's
    decode, 0): the second goes to sub-batch 1."""
    formed = form_sub_batches(empty(), [Decode(1, 100, 0), Decode(2, 40, 1)], [], room_blocks=0, token_budget=0,
                              step=1, predictor=ClosedForm())
    assert formed.sub_batches[0].decode_ids == [1] and formed.sub_batches[1].decode_ids == [2]


def test_cut_searches_a_gap_of_one_candidate_between_the_last_two_probes():
    """One prefill of 31 tokens, minimum chunk 1: the 31 candidates 1..31 are probed at 1, 5, ..., 29 (every 4th)
    and 31 (the last); T_GPU = c ms, T_PIM = 0.05 x 600 = 30 ms: 29 fits, 31 does not, and between them only 30
    is left to ask, which fits. The cut is 30 tokens, both stages 30 ms."""
    from l3sim.serving.schedulers.l3 import _cut_last_prefill

    sb = SubBatch(1, prefill_ids=[5], prefill_chunks=[31], prefill_done=[0])
    sb.add_decode(1, 600, 0)
    gpu, pim = _cut_last_prefill((sb, SubBatch(1)), 0, ClosedForm(), 1)
    assert sb.prefill_chunks == [30]
    assert (gpu, pim) == pytest.approx((30 * MS, 30 * MS), rel=1e-12)


class _Recording(ClosedForm):
    """ClosedForm that records the arguments of every GPU question."""

    def __init__(self) -> None:
        super().__init__()
        self.rows_calls: list[tuple] = []
        self.gpu_calls: list[tuple] = []

    def gpu_s(self, chunk_tokens, done_tokens, num_decodes):
        self.gpu_calls.append((list(chunk_tokens), list(done_tokens), np.atleast_1d(num_decodes).tolist()))
        return super().gpu_s(chunk_tokens, done_tokens, num_decodes)

    def gpu_s_rows(self, head_chunks, head_done, last_chunks, last_done, num_decodes):
        self.rows_calls.append((list(head_chunks), list(head_done), last_done, num_decodes))
        return super().gpu_s_rows(head_chunks, head_done, last_chunks, last_done, num_decodes)


def test_cut_asks_with_the_head_prefills_done_tokens_and_the_last_ones():
    """Prefills (chunk, done) (10, 1), (20, 2), (40, 3) beside the other sub-batch's 2 decodes: every question
    of the cut names the head's done tokens [1, 2], the last prefill's 3 and the 2 decodes."""
    from l3sim.serving.schedulers.l3 import _cut_last_prefill

    sb = SubBatch(1, prefill_ids=[5, 6, 7], prefill_chunks=[10, 20, 40], prefill_done=[1, 2, 3])
    sb.add_decode(1, 1000, 0)  # T_PIM = 50 ms: some lengths fit
    other = SubBatch(1)
    other.add_decode(2, 10, 0)
    other.add_decode(3, 10, 0)
    predictor = _Recording()
    _cut_last_prefill((sb, other), 0, predictor, 1)
    assert predictor.rows_calls and all(call == ([10, 20], [1, 2], 3, 2) for call in predictor.rows_calls)


def test_gpu_curve_asks_with_the_sub_batch_prefills():
    from l3sim.serving.schedulers.l3 import _GPUCurve

    sb = SubBatch(1, prefill_ids=[5, 6], prefill_chunks=[10, 20], prefill_done=[4, 8])
    predictor = _Recording()
    _GPUCurve(sb, predictor, base=0, reach=3, first_block=4).at(0)
    assert predictor.gpu_calls == [([10, 20], [4, 8], [0, 1, 2, 3])]


def test_a_sub_batch_sums_the_contexts_on_each_rank():
    """Decodes of 100 and 50 tokens on rank 0 and 30 on rank 1: rank loads 150 and 30, 180 tokens, 3 decodes."""
    sb = SubBatch(2)
    for rid, context, rank in ((1, 100, 0), (2, 50, 0), (3, 30, 1)):
        sb.add_decode(rid, context, rank)
    assert sb.rank_load == [150.0, 30.0] and sb.decode_tokens == 180.0 and sb.num_decodes == 3


def test_pim_time_of_a_predictor_that_answers_with_an_array_is_a_float():
    """A predictor may answer a scalar question with a one-element array: the policy reads it as a float."""
    from l3sim.serving.schedulers.l3 import _pim_s

    class OneElement(ClosedForm):
        def pim_s(self, decode_context_tokens, num_decodes, other_prefill_tokens):
            return np.array([super().pim_s(decode_context_tokens, num_decodes, other_prefill_tokens)])

    sb = SubBatch(1)
    sb.add_decode(1, 100, 0)
    value = _pim_s(sb, OneElement())
    assert isinstance(value, float) and value == pytest.approx(5 * MS, rel=1e-12)


def test_decode_pool_breaks_a_tie_across_ranks_by_pool_order_not_by_id():
    """Requests 9 (rank 0) and 3 (rank 1), both of 100 tokens, both ranks empty: 9 came first in the pool."""
    from l3sim.serving.schedulers.l3 import DecodePool

    pool = DecodePool([Decode(9, 100, 0), Decode(3, 100, 1)])
    assert pool.pop_balanced(SubBatch(2)).rid == 9


def test_the_default_minimum_chunk_is_one_token():
    """Memory full and no cut length fits (T_GPU_0 = c + 1 ms > T_PIM_0 = 0.05 ms): the shortest candidate, 1."""
    kept = empty()
    kept[0].add_decode(1, 1, rank=0)
    kept[1].add_decode(2, 1, rank=0)
    formed = form_sub_batches(kept, [], [Prefill(50, 10, 0, 0), Prefill(51, 10, 0, blocks=99)], room_blocks=0,
                              token_budget=1000, step=1, predictor=ClosedForm())
    assert formed.memory_full and formed.sub_batches[0].prefill_chunks == [1]


def test_a_budget_used_up_by_the_first_prefill_gives_the_other_sub_batch_none():
    """Budget 10, two prompts of 10 tokens: sub-batch 0 takes the first whole; nothing is left, so no prefill of
    zero tokens goes to sub-batch 1."""
    formed = form_sub_batches(empty(), [], [Prefill(1, 10, 0, 0), Prefill(2, 10, 0, 0)], room_blocks=100,
                              token_budget=10, step=1, predictor=ClosedForm())
    assert formed.sub_batches[0].prefill_chunks == [10] and formed.sub_batches[1].prefill_ids == []


def test_admissions_draw_the_free_blocks_down():
    """10 free blocks: request 1 takes 3 (7 left), request 2 needs 6 and fits; nothing is blocked."""
    formed = form_sub_batches(empty(), [], [Prefill(1, 5, 0, 3), Prefill(2, 5, 0, 6)], room_blocks=10,
                              token_budget=100, step=1, predictor=ClosedForm())
    assert formed.sub_batches[1].prefill_ids == [2] and not formed.memory_full
