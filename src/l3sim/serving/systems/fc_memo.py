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
    """``cost.fc_time_s(num_tokens, num_logits)`` as a float, remembered per pair; 0 for no tokens."""

    __slots__ = ("_fc_time_s", "_memo")

    def __init__(self, cost: FCTimeSource) -> None:
        self._fc_time_s = cost.fc_time_s
        self._memo: dict[tuple[int, int], float] = {}

    def __call__(self, num_tokens: int, num_logits: int) -> float:
        if num_tokens == 0:
            return 0.0
        key = (num_tokens, num_logits)
        value = self._memo.get(key)
        if value is None:
            value = self._memo[key] = float(self._fc_time_s(num_tokens, num_logits))
        return value
