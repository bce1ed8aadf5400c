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

from typing import NamedTuple

import numpy as np
from numba.extending import register_jitable

from l3sim.serving.predictors.features import GPU_FEATURES, PREFILL_SLOTS
from l3sim.serving.predictors.forest_walk import walk_row
from l3sim.serving.warm_jit import call_compiled

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
    """T_GPU of a lane with ``count`` prefills (``chunks``, ``done``) beside ``other_decodes`` decodes: its row
    (``_gpu_row``) through the forest (``forest_walk.walk_row``, inlined: an edit there needs this file's
    compiled cache cleared, see that module)."""
    _gpu_row(chunks, done, count, other_decodes, row)
    return walk_row(row, roots, nodes, value)


@register_jitable
def _gpu_row(chunks, done, count, other_decodes, row) -> None:
    """Write into ``row`` the row of ``features.gpu_feature_row`` of a lane with ``count`` prefills (``chunks``,
    ``done``) beside ``other_decodes`` decodes: the PREFILL_SLOTS largest chunks (ties to the earlier
    prefill) with their done tokens, the count and sum of the chunks, the decodes, decodes + chunk tokens."""
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


@register_jitable
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


def run_form_kernel(*args):
    """``form_kernel(*args)``, compiled."""
    return call_compiled(form_kernel, *args)


def run_plan_kernel(*args):
    """``plan_kernel(*args)``, compiled."""
    return call_compiled(plan_kernel, *args)


class PlanSettings(NamedTuple):
    """The scheduler's and the KV store's numbers the compiled plan reads (``L3Scheduler.plan``): the token
    budget, the sequence limit (-1: none), the block arithmetic, the reservation policy ("full": True),
    whether the policy re-forms both sub-batches at each decision, the sub-batch ranks and the decode step."""

    max_batch_tokens: int
    max_num_seqs: int
    block_tokens: int
    capacity_blocks: int
    admissible_blocks: int
    full_reservation: bool
    regroup_decision: bool
    ranks: int
    step: int
    min_chunk_tokens: int


NEED_MORE_WAITING = -1  # plan_kernel's status when the waiting requests it was given ran out before its loop did


def plan_kernel(running, waiting, waiting_all, prefill_done, prefill_target, reserved, kv_tokens, prompt, output,
                slot, lane, max_batch_tokens, max_num_seqs, block_tokens, capacity_blocks, admissible_blocks,
                full_reservation, regroup_decision, ranks, step, min_chunk_tokens, roots, nodes, value, pim):
    """One plan of ``l3.L3Scheduler`` (``plan_python`` there is the definition): pre-emption to fit, the kept
    sub-batches (``lane``, per request, updated in place), the prefill candidates and, when there is
    something to decide, the policy (``form_kernel``).

    ``waiting`` is the front of the waiting queue (all of it when ``waiting_all``). If it runs out before
    the candidates' loop stops, nothing is changed and the status is NEED_MORE_WAITING (call again with the
    whole queue). Returns (status: the number of requests admitted, or NEED_MORE_WAITING; the pre-empted,
    latest first; the plan's decodes (sub-batch 1's, then 0's) and how many are sub-batch 1's; the prefills
    (sub-batch 0's, then 1's), their chunks and done tokens and how many are sub-batch 0's; whether a
    decision was made; its predicted (T_GPU, T_PIM) and the two lanes' feature rows for the predictors to
    learn from, GPU_FEATURES and PIM_FEATURES: ``l3.observed_rows``).
    """
    r = running.size
    grows = np.zeros(r, np.bool_)
    held = np.zeros(r, np.int64)
    decoding = 0
    for i in range(r):  # the continuous scheduler's decodes: in admission order, as far as the budget allows
        rid = running[i]
        if prefill_done[rid] >= prefill_target[rid]:
            decoding += 1
            grows[i] = r <= max_batch_tokens or decoding <= max_batch_tokens
        held[i] = max(reserved[rid], (kv_tokens[rid] + grows[i] + block_tokens - 1) // block_tokens)
    keep, total = 0, 0
    while keep < r and total + held[keep] <= capacity_blocks:  # the longest prefix whose blocks fit
        total += held[keep]
        keep += 1
    decode_ids = running[:keep][grows[:keep]]
    prefilling = running[:keep][prefill_done[running[:keep]] < prefill_target[running[:keep]]]
    room = admissible_blocks - total
    budget = max_batch_tokens - decode_ids.size
    # the candidates: the admitted in prefill, then the waiting queue (only if nobody was pre-empted)
    p = prefilling.size
    cand = np.zeros(p + waiting.size, np.int64)
    remaining, done, blocks = np.zeros_like(cand), np.zeros_like(cand), np.zeros_like(cand)
    tokens = 0
    for k in range(p):
        rid = prefilling[k]
        cand[k], remaining[k], done[k] = rid, prefill_target[rid] - prefill_done[rid], prefill_done[rid]
        tokens += remaining[k]
    m, left_room, seqs = p, room, keep
    if keep == r:
        stopped = False
        for rid in waiting:
            if tokens >= budget or left_room < 0 or (max_num_seqs >= 0 and seqs >= max_num_seqs):
                stopped = True
                break
            seqs += 1
            if full_reservation:
                need = (prompt[rid] + output[rid] - 1 + block_tokens - 1) // block_tokens
            else:
                need = (prefill_target[rid] + block_tokens - 1) // block_tokens
            cand[m], remaining[m], blocks[m] = rid, prefill_target[rid], need
            tokens += prefill_target[rid]
            left_room -= need
            m += 1
        if not stopped and not waiting_all:
            return (NEED_MORE_WAITING, running[:0], running[:0], 0, running[:0], running[:0], running[:0], 0, False,
                    np.zeros(2), np.zeros(2), np.zeros((2, NUM_GPU_FEATURES)), np.zeros((2, 3)))
    preempted = running[keep:][::-1].copy()
    # only decoding requests keep a sub-batch (pre-empted or budget-stalled ones lose it)
    kept_lane = lane[decode_ids]
    lane[:] = -1
    lane[decode_ids] = kept_lane
    pool = decode_ids[kept_lane < 0]
    decide = pool.size > 0 or (m > 0 and budget > 0 and blocks[0] <= max(room, 0))
    decode_tokens, num_decodes = np.zeros(2), np.zeros(2, np.int64)
    gpu_s, pim_s = np.zeros(2), np.zeros(2)
    gpu_rows, pim_rows = np.zeros((2, NUM_GPU_FEATURES)), np.zeros((2, 3))
    if not decide:  # the sub-batches stay as they are
        lanes = (decode_ids[kept_lane == 0], decode_ids[kept_lane == 1])
        return (0, preempted, np.concatenate((lanes[1], lanes[0])), lanes[1].size, running[:0], running[:0],
                running[:0], 0, False, gpu_s, pim_s, gpu_rows, pim_rows)
    if regroup_decision:  # the policy re-forms both sub-batches from every decode
        pool = decode_ids
        kept_lane = np.full(decode_ids.size, -1, np.int64)
    rank_load = np.zeros((2, ranks))
    for i in range(decode_ids.size):  # the kept decodes' sums (l3.SubBatch.holding)
        if kept_lane[i] >= 0:
            rid = decode_ids[i]
            decode_tokens[kept_lane[i]] += kv_tokens[rid] + 1
            num_decodes[kept_lane[i]] += 1
            rank_load[kept_lane[i], max(slot[rid], 0)] += kv_tokens[rid] + 1
    context = kv_tokens[pool] + 1
    pool_ranks = np.maximum(slot[pool], 0)
    placed, placed_lane, prefill_lane, prefill_chunk, gpu_s, pim_s, _ = form_kernel(
        context, pool_ranks, ranks, decode_tokens, num_decodes, rank_load, remaining[:m], done[:m], blocks[:m],
        room, budget, step, min_chunk_tokens, roots, nodes, value, pim)
    decodes = np.zeros(decode_ids.size, np.int64)  # sub-batch 1's decodes, then sub-batch 0's
    filled = _lane_decodes(1, 0, decodes, decode_ids, kept_lane, pool, placed, placed_lane, lane)
    ones = filled
    filled = _lane_decodes(0, filled, decodes, decode_ids, kept_lane, pool, placed, placed_lane, lane)
    ids, chunks = np.zeros(m, np.int64), np.zeros(m, np.int64)
    m0 = _lane_prefills(0, 0, ids, chunks, cand[:m], prefill_lane, prefill_chunk)
    taken = _lane_prefills(1, m0, ids, chunks, cand[:m], prefill_lane, prefill_chunk)
    admitted = 0
    for k in range(p, m):
        admitted += prefill_lane[k] >= 0
    done = prefill_done[ids[:taken]]
    for lane_ in range(2):
        a, b = (0, m0) if lane_ == 0 else (m0, taken)
        _gpu_row(chunks[a:b], done[a:b], b - a, num_decodes[1 - lane_], gpu_rows[lane_])
        pim_rows[lane_, 0], pim_rows[lane_, 1] = decode_tokens[lane_], num_decodes[lane_]
        pim_rows[lane_, 2] = chunks[a:b].sum()
    return (admitted, preempted, decodes, ones, ids[:taken], chunks[:taken], done, m0, True, gpu_s, pim_s,
            gpu_rows, pim_rows)


@register_jitable
def _lane_decodes(which, start, out, decode_ids, kept_lane, pool, placed, placed_lane, lane) -> int:
    """Write lane ``which``'s decodes into ``out`` from ``start`` (its kept decodes in order, then the pool's in
    the order placed) and mark them in ``lane``; returns where the next lane starts."""
    at = start
    for i in range(decode_ids.size):
        if kept_lane[i] == which:
            out[at] = decode_ids[i]
            at += 1
    for j in range(placed.size):
        if placed_lane[j] == which:
            out[at] = pool[placed[j]]
            at += 1
    for i in range(start, at):
        lane[out[i]] = which
    return at


@register_jitable
def _lane_prefills(which, start, ids, chunks, cand, prefill_lane, prefill_chunk) -> int:
    """Write the candidates lane ``which`` took (in candidate order) and their chunks into ``ids``, ``chunks``
    from ``start``; returns where the next lane starts."""
    at = start
    for k in range(cand.size):
        if prefill_lane[k] == which:
            ids[at], chunks[at] = cand[k], prefill_chunk[k]
            at += 1
    return at
