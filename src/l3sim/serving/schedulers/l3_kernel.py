"""The L3 policy (``l3.form_sub_batches``) for the learned predictors, as one loop numba compiles.

With the predictors the scheduler trains (a random forest for T_GPU, a linear model for T_PIM), every
question the policy asks is arithmetic on arrays, so the whole decision (prefills dealt out, decodes added
while T_PIM_i < T_GPU_i, leftovers to the shorter phase, the cut of the last prefill when memory is full)
runs here without a Python call per decode: a decision places ~47 decodes one at a time, thousands of
decisions a run. ``l3.form_sub_batches`` stays the policy's definition for any ``StagePredictor``; this is
the same policy step for step, with the same floating-point operations in the same order, so both give
identical sub-batches and predicted times (tested on random cases, ``tests/serving/test_l3_kernel.py``).

The functions are plain Python (numba compiles them unchanged; under ``NUMBA_DISABLE_JIT=1`` they run
interpreted, which is how mutation testing exercises them). A decode is an index into the pool arrays; a
sub-batch ("lane") is a row of the per-lane arrays.
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from typing import NamedTuple

import numpy as np
from numba.extending import register_jitable

from l3sim.serving.predictors.features import GPU_FEATURES, PREFILL_SLOTS
from l3sim.serving.predictors.forest_walk import walk_row

CHUNK_CANDIDATES = 32  # candidate chunk lengths when cutting a prefill (l3._cut_last_prefill)
CUT_STRIDE = 4  # the cut asks every 4th candidate first, then the ones in the gap it found
NUM_GPU_FEATURES = len(GPU_FEATURES)


class KernelModel(NamedTuple):
    """The learned predictors as arrays: the GPU forest's node table and the PIM linear model
    (coefficients of PIM_FEATURES, then the intercept)."""

    roots: np.ndarray
    nodes: np.ndarray
    value: np.ndarray
    pim: np.ndarray


@register_jitable
def _gpu_s(chunks, done, count, other_decodes, roots, nodes, value, row) -> float:
    """T_GPU of a lane with ``count`` prefills (``chunks``, ``done``) beside ``other_decodes`` decodes: the
    row of ``features.gpu_feature_row`` (the PREFILL_SLOTS largest chunks, ties to the earlier prefill)
    through the forest."""
    row[:] = 0.0
    first, second = -1, -1
    for slot in range(min(PREFILL_SLOTS, count)):
        best = -1
        for j in range(count):
            if j != first and j != second and (best < 0 or chunks[j] > chunks[best]):
                best = j
        row[2 * slot] = chunks[best]
        row[2 * slot + 1] = done[best]
        if slot == 0:
            first = best
        else:
            second = best
    total = 0.0
    for j in range(count):
        total += chunks[j]
    row[2 * PREFILL_SLOTS] = count
    row[2 * PREFILL_SLOTS + 1] = total
    row[2 * PREFILL_SLOTS + 2] = other_decodes
    row[2 * PREFILL_SLOTS + 3] = other_decodes + total
    return walk_row(row, roots, nodes, value)


@register_jitable
def _pim_s(pim, decode_tokens, num_decodes, prefill_tokens) -> float:
    """T_PIM of the linear model, its terms added in PIMTimePredictor.predict_columns' order."""
    return pim[0] * decode_tokens + pim[1] * num_decodes + pim[2] * prefill_tokens + pim[3]


@register_jitable
def _pop_balanced(lane, rank_load, head, end, queue, context) -> int:
    """The pool decode on the rank least loaded in ``lane`` (longest context, then pool order, first);
    ``queue`` holds pool indices grouped by rank in that order, ``head[r]:end[r]`` the rank's rest."""
    best_rank, best = -1, -1
    for rank in range(head.size):
        if head[rank] < end[rank]:
            k = queue[head[rank]]
            if best < 0:
                better = True
            elif rank_load[lane, rank] != rank_load[lane, best_rank]:
                better = rank_load[lane, rank] < rank_load[lane, best_rank]
            elif context[k] != context[best]:
                better = context[k] > context[best]
            else:
                better = k < best
            if better:
                best_rank, best = rank, k
    head[best_rank] += 1
    return best


def form_kernel(context, rank, ranks, decode_tokens, num_decodes, rank_load, remaining, done, blocks,
                room_blocks, token_budget, step, min_chunk_tokens, roots, nodes, value, pim):
    """The policy of ``l3.form_sub_batches`` (see there), from the kept decodes' sums (``decode_tokens``,
    ``num_decodes``, ``rank_load``: updated in place), the pool (``context``, ``rank`` of each decode, in
    pool order) and the prefill candidates in order.

    Returns the pool decodes in the order placed and the lane of each; per prefill candidate its lane (-1:
    not taken) and chunk; the predicted (T_GPU, T_PIM) of each lane; whether memory was full.
    """
    n, m = context.size, remaining.size
    # pool indices by rank, then longest context, then pool order (a stable sort of one composite key)
    queue = np.argsort(rank * (np.int64(1) << 32) - context, kind="mergesort")
    head, end = np.zeros(ranks, np.int64), np.zeros(ranks, np.int64)
    for k in range(n):
        end[rank[k]] += 1
    for r in range(1, ranks):
        head[r] = end[r - 1]
        end[r] += end[r - 1]
    left = n  # decodes still in the pool
    placed, placed_lane = np.empty(n, np.int64), np.empty(n, np.int64)
    prefill_lane, prefill_chunk = np.full(m, -1, np.int64), np.zeros(m, np.int64)
    chunks, done_of = np.zeros((2, max(m, 1))), np.zeros((2, max(m, 1)))
    count, last = np.zeros(2, np.int64), np.zeros(2, np.int64)  # prefills per lane; the last one's candidate
    prefill_tokens = np.zeros(2, np.int64)
    row = np.zeros(NUM_GPU_FEATURES)

    def add_step(lane, left):
        for _ in range(min(step, left)):
            k = _pop_balanced(lane, rank_load, head, end, queue, context)
            placed[n - left], placed_lane[n - left] = k, lane
            decode_tokens[lane] += context[k]
            num_decodes[lane] += 1
            rank_load[lane, rank[k]] += context[k]
            left -= 1
        return left

    # steps 1-2: a prefill to each lane, then decodes to each lane that got one while T_PIM_i < T_GPU_i
    nxt, budget, blocked = 0, token_budget, False
    while nxt < m and budget > 0 and not blocked:
        added = 0
        for lane in range(2):
            if nxt >= m or budget <= 0:
                break
            if blocks[nxt] > max(room_blocks, 0):  # admitted prefills (0 blocks) hold their reservation
                blocked = True
                break
            chunk = min(remaining[nxt], budget)
            chunks[lane, count[lane]], done_of[lane, count[lane]] = chunk, done[nxt]
            count[lane] += 1
            prefill_lane[nxt], prefill_chunk[nxt], last[lane] = lane, chunk, nxt
            prefill_tokens[lane] += chunk
            room_blocks -= blocks[nxt]
            budget -= chunk
            nxt += 1
            added += 1
        for lane in range(added):
            if left:
                gpu = _gpu_s(chunks[lane], done_of[lane], count[lane], num_decodes[1 - lane], roots, nodes, value,
                             row)
                while left and _pim_s(pim, decode_tokens[lane], num_decodes[lane], prefill_tokens[lane]) < gpu:
                    left = add_step(lane, left)
        if not added:
            break
    # step 3's leftovers: to the lane with the shorter phase (ties: 0); T_GPU_i moves only with the other
    # lane's decode count, so each count's answer is kept
    curve = np.full((2, n + num_decodes[0] + num_decodes[1] + 1), np.nan)
    while left:
        phase = np.zeros(2)
        for lane in range(2):
            other = num_decodes[1 - lane]
            if np.isnan(curve[lane, other]):
                curve[lane, other] = _gpu_s(chunks[lane], done_of[lane], count[lane], other, roots, nodes, value,
                                            row)
            pim_now = _pim_s(pim, decode_tokens[lane], num_decodes[lane], prefill_tokens[lane])
            phase[lane] = max(curve[lane, other], pim_now)
        left = add_step(0 if phase[0] <= phase[1] else 1, left)
    gpu_s, pim_s = np.zeros(2), np.zeros(2)
    for lane in range(2):
        gpu_s[lane] = _gpu_s(chunks[lane], done_of[lane], count[lane], num_decodes[1 - lane], roots, nodes, value,
                             row)
        pim_s[lane] = _pim_s(pim, decode_tokens[lane], num_decodes[lane], prefill_tokens[lane])
    if blocked:  # memory full: align each GPU-bound phase by cutting its last prefill
        for lane in range(2):
            if count[lane] and gpu_s[lane] > pim_s[lane]:
                chunk = _cut_last_prefill(chunks[lane], done_of[lane], count[lane], num_decodes[1 - lane],
                                          decode_tokens[lane], num_decodes[lane], prefill_tokens[lane],
                                          min_chunk_tokens, roots, nodes, value, pim, row, gpu_s, pim_s, lane)
                prefill_chunk[last[lane]] = chunk
    return (placed, placed_lane, prefill_lane, prefill_chunk, gpu_s, pim_s, blocked)


@register_jitable
def _cut_last_prefill(chunks, done, count, other_decodes, decode_tokens, num_decodes, prefill_tokens,
                      min_chunk_tokens, roots, nodes, value, pim, row, gpu_s, pim_s, lane) -> int:
    """``l3._cut_last_prefill``: the longest of CHUNK_CANDIDATES lengths (numpy's ``linspace`` from
    ``min_chunk_tokens`` to the full chunk, rounded half to even, repeats dropped) whose T_GPU fits under
    T_PIM, every CUT_STRIDE-th asked first; writes its (T_GPU, T_PIM) into ``gpu_s``, ``pim_s`` and
    returns its length."""
    full = int(chunks[count - 1])
    low = min(min_chunk_tokens, full)
    num = min(CHUNK_CANDIDATES, full - low + 1)
    spaced = np.arange(num) * ((full - low) / (num - 1) if num > 1 else 0.0) + low
    if num > 1:
        spaced[num - 1] = full
    rounded = np.rint(spaced)
    candidates = np.empty(num, np.int64)
    size = 0
    for value_ in rounded:
        if size == 0 or int(value_) != candidates[size - 1]:
            candidates[size] = int(value_)
            size += 1
    head_tokens = prefill_tokens - full
    probes = np.empty(size // CUT_STRIDE + 2, np.int64)
    num_probes = 0
    for p in range(0, size, CUT_STRIDE):
        probes[num_probes] = p
        num_probes += 1
    if probes[num_probes - 1] != size - 1:
        probes[num_probes] = size - 1
        num_probes += 1
    pick, found = 0, -1
    for k in range(num_probes):  # the last probe that fits
        chunks[count - 1] = candidates[probes[k]]
        gpu = _gpu_s(chunks, done, count, other_decodes, roots, nodes, value, row)
        if gpu <= _pim_s(pim, decode_tokens, num_decodes, candidates[probes[k]] + head_tokens):
            found = k
    if found >= 0:
        pick = probes[found]
        if found + 1 < num_probes:
            for c in range(probes[found] + 1, probes[found + 1]):
                chunks[count - 1] = candidates[c]
                gpu = _gpu_s(chunks, done, count, other_decodes, roots, nodes, value, row)
                if gpu <= _pim_s(pim, decode_tokens, num_decodes, candidates[c] + head_tokens):
                    pick = c
    chunks[count - 1] = candidates[pick]
    gpu_s[lane] = _gpu_s(chunks, done, count, other_decodes, roots, nodes, value, row)
    pim_s[lane] = _pim_s(pim, decode_tokens, num_decodes, candidates[pick] + head_tokens)
    return candidates[pick]


@lru_cache(maxsize=None)
def _compiled():
    import numba

    return numba.njit(cache=True, nogil=True)(form_kernel)


_called = []  # non-empty once the compiled kernel has run in this process


def run_form_kernel(*args):
    """``form_kernel(*args)`` compiled by numba (once per process, cached on disk). numba's pedantic IR check
    warns, harmlessly, about the helpers it inlines while compiling; silenced around the first call (the one
    that compiles or loads the cache)."""
    kernel = _compiled()
    if _called:
        return kernel(*args)
    from numba.core.errors import NumbaIRAssumptionWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NumbaIRAssumptionWarning)
        result = kernel(*args)
    _called.append(True)
    return result
