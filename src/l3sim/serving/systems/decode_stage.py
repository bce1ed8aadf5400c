"""Each sub-batch's decode attention on the attention device's slots, as the disaggregated systems charge it.

A decode attends over its stored tokens plus the one it appends, on its slot; a slot's step takes
``fixed_s`` per request plus ``per_token_s`` per context token, and grows by ``per_token_s`` per request
each steady iteration. A sub-batch's attention stage is its busiest slot: the maximum of those affine
functions of the iteration index, one ``affine.affine_max`` piece (value at iteration 0, growth, how many
iterations it holds). ``DisaggregatedSystem`` asks for both sub-batches' pieces once per plan (tens of
thousands of times a run).

``sub_batch_pieces`` is plain Python that numba compiles, in place of ``sub_batch_pieces_numpy``'s bincounts
and ``affine_max`` calls; ``DecodeStage`` runs the first once numba is loaded, the second before
(``serving.warm_jit``). Both give the same pieces bit for bit: the same floating-point operations in the
same order (contexts are whole numbers, so their sums are exact in any order;
``tests/serving/test_decode_stage.py``).
"""

from __future__ import annotations

import math

import numpy as np

from l3sim.serving.affine import affine_max
from l3sim.serving.warm_jit import CompiledWhenLoaded

SUB_BATCHES = 2


def sub_batch_pieces(ids, second, kv_tokens, slot, slots, fixed_s, per_token_s, limit, out) -> bool:
    """Write into ``out`` (SUB_BATCHES x 4) each sub-batch's busiest-slot piece (value, growth, span) and its
    summed context; False (``out`` unspecified) if a decode has no slot yet.

    ``ids``: the plan's decodes; ``second``: positions (into ``ids``) of sub-batch 1's, the rest being
    sub-batch 0's (a plan's two sub-batches split its decodes); ``kv_tokens``, ``slot``: per request;
    ``limit``: most iterations a piece may span. A sub-batch without decodes gets (0, 0, limit) and 0 context.
    """
    count = np.zeros(SUB_BATCHES * slots, np.int64)
    total = np.zeros(SUB_BATCHES * slots)
    lane = np.zeros(ids.size, np.int64)
    for pos in second:
        lane[pos] = 1
    for k in range(ids.size):
        rid = ids[k]
        if slot[rid] < 0:
            return False
        where = slot[rid] + lane[k] * slots
        count[where] += 1
        total[where] += kv_tokens[rid] + 1
    for sb in range(SUB_BATCHES):
        size = second.size if sb == 1 else ids.size - second.size
        context = 0.0
        for s in range(sb * slots, (sb + 1) * slots):
            context += total[s]
        out[sb, 3] = context
        if size == 0:
            out[sb, 0], out[sb, 1], out[sb, 2] = 0.0, 0.0, limit
            continue
        # affine.affine_max over the slots' (fixed * count + per_token * total, per_token * count)
        best = -math.inf
        for s in range(sb * slots, (sb + 1) * slots):
            best = max(best, fixed_s * count[s] + per_token_s * total[s])
        growth = -math.inf
        for s in range(sb * slots, (sb + 1) * slots):
            if fixed_s * count[s] + per_token_s * total[s] == best and per_token_s * count[s] > growth:
                growth = per_token_s * count[s]
        valid = limit
        for s in range(sb * slots, (sb + 1) * slots):
            slope = per_token_s * count[s]
            if slope > growth:  # a steeper slot overtakes the busiest one after floor(crossing) + 1 iterations
                crossing = (best - (fixed_s * count[s] + per_token_s * total[s])) / (slope - growth)
                if crossing < valid - 1:  # compared as a float first: a far crossing may not fit an integer
                    valid = int(math.floor(crossing)) + 1
        out[sb, 0], out[sb, 1], out[sb, 2] = best, growth, max(valid, 1)
    return True


def bin_sums(context_tokens, bins, num_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Per bin (slot): how many requests fall in it and their summed ``context_tokens`` (as floats)."""
    where = np.asarray(bins, dtype=np.int64)
    weights = np.asarray(context_tokens, dtype=np.float64)
    return np.bincount(where, minlength=num_bins), np.bincount(where, weights=weights, minlength=num_bins)


def sub_batch_pieces_numpy(ids, second, kv_tokens, slot, slots, fixed_s, per_token_s, limit, out) -> bool:
    """``sub_batch_pieces`` in numpy: every (sub-batch, slot) load from two bincounts (a request's bin is its
    slot, offset by ``slots`` in sub-batch 1), then ``affine_max`` over each sub-batch's slots as Python floats."""
    bins = slot[ids]
    if ids.size and bins.min() < 0:
        return False
    bins[second] += slots
    # the stored tokens and the one each decode appends
    count, total = (sums.tolist() for sums in bin_sums(kv_tokens[ids] + 1, bins, SUB_BATCHES * slots))
    first = [fixed_s * c + per_token_s * t for c, t in zip(count, total)]
    growth = [per_token_s * c for c in count]
    for sb, size in enumerate((ids.size - second.size, second.size)):
        part = slice(sb * slots, (sb + 1) * slots)
        out[sb, :3] = affine_max(first[part], growth[part], limit) if size else (0.0, 0.0, limit)
        out[sb, 3] = float(sum(total[part]))
    return True


class DecodeStage:
    """``sub_batch_pieces`` for one system's plans: compiled once numba is loaded, else in numpy
    (``warm_jit.CompiledWhenLoaded``)."""

    def __init__(self, slots: int, fixed_s: float, per_token_s: float) -> None:
        self.slots, self.fixed_s, self.per_token_s = int(slots), float(fixed_s), float(per_token_s)
        self._run = CompiledWhenLoaded(sub_batch_pieces, sub_batch_pieces_numpy)
        self._out = np.zeros((SUB_BATCHES, 4))

    def pieces(self, ids: np.ndarray, second: np.ndarray, kv_tokens: np.ndarray, slot: np.ndarray,
               limit: int) -> tuple[list[tuple[float, float, int]], list[float]] | None:
        """Per sub-batch its ``affine_max`` piece (value, growth, span) and its summed context, or None if a
        decode has no slot yet."""
        if not self._run(ids, second, kv_tokens, slot, self.slots, self.fixed_s, self.per_token_s, limit, self._out):
            return None
        rows = self._out.tolist()
        return [(value, growth, int(span)) for value, growth, span, _ in rows], [row[3] for row in rows]
