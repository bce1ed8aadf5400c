"""A GPU cost model's dense-layer time per (tokens, logits), each pair computed once.

The serving engine and the schedulers ask for the same few token counts
thousands of times per run; the cost model answers one count in a few numpy
operations, a dictionary answers it in a lookup.
"""

from __future__ import annotations

from typing import Protocol


class FCTimeSource(Protocol):
    def fc_time_s(self, num_tokens: int, num_logits: int) -> float: ...


class MemoizedFCTime:
    """``cost.fc_time_s(num_tokens, num_logits)`` as a float, remembered per pair; 0 for no tokens.

    A cost model that splits its answer into a part per token count and a part per logit count
    (``GPUCostModel.fc_dense_time_s`` and ``fc_lm_head_time_s``, whose sum is ``fc_time_s`` bit for bit)
    has each part remembered on its own too: a new pair usually repeats a token or a logit count already seen.
    """

    __slots__ = ("_fc_time_s", "_memo", "_dense_s", "_head_s", "_dense", "_head")

    def __init__(self, cost: FCTimeSource) -> None:
        self._fc_time_s = cost.fc_time_s
        self._memo: dict[tuple[int, int], float] = {}
        self._dense_s = getattr(cost, "fc_dense_time_s", None)
        self._head_s = getattr(cost, "fc_lm_head_time_s", None)
        if self._dense_s is None or self._head_s is None:
            self._dense_s = self._head_s = None
        self._dense: dict[int, float] = {}
        self._head: dict[int, float] = {}

    def __call__(self, num_tokens: int, num_logits: int) -> float:
        if num_tokens == 0:
            return 0.0
        key = (num_tokens, num_logits)
        value = self._memo.get(key)
        if value is None:
            if self._dense_s is None:
                value = float(self._fc_time_s(num_tokens, num_logits))
            else:
                dense = self._dense.get(num_tokens)
                if dense is None:
                    dense = self._dense[num_tokens] = self._dense_s(num_tokens)
                head = self._head.get(num_logits)
                if head is None:
                    head = self._head[num_logits] = self._head_s(num_logits)
                value = dense + head
            self._memo[key] = value
        return value
