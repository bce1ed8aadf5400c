"""The maximum of affine functions of the iteration index, and how long its maximiser stays the same.

A sub-batch system's iteration costs ``max(T_GPU_0, T_ATT_1(j)) + max(T_GPU_1, T_ATT_0(j))``, and a
DIMM-PIM attention stage is the busiest of many ranks, ``max_s(b_s + a_s j)``. Each is affine in j until
another term overtakes the current maximum; ``affine_max`` returns that piece and its length, so the
engine's closed-form advance stays exact.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np


def affine_max(first: Sequence[float], slope: Sequence[float], limit: int) -> tuple[float, float, int]:
    """``(value_0, slope, valid)``: max_i(first_i + slope_i j) equals value_0 + slope j for j < valid.

    The maximiser at j = 0 is the largest ``first`` (ties: the steepest); a steeper term overtakes it
    after j = (first* - first_i) / (slope_i - slope*), so the piece holds up to the floor of the
    earliest such j (at equality both terms give the same value). ``valid`` is at least 1, at most
    ``limit``.

    Plain Python floats: the engine calls this a few times per plan with two terms or one per
    attention-device slot (a handful), where numpy's per-call overhead would dominate. Arrays are
    accepted too (converted to lists).
    """
    first, slope = _as_list(first), _as_list(slope)
    if not first:
        return 0.0, 0.0, limit
    b = max(first)
    a = -math.inf
    for f, s in zip(first, slope):
        if f == b and s > a:
            a = s
    valid = limit
    for f, s in zip(first, slope):
        if s > a:  # floor is monotone: the smallest floor(crossing) + 1 over all crossings
            valid = min(valid, math.floor((b - f) / (s - a)) + 1)
    return float(b), float(a), max(valid, 1)


def _as_list(values: Sequence[float]) -> Sequence[float]:
    """``values`` as Python numbers: an array becomes a list, a list or tuple is used as it is."""
    return values.tolist() if isinstance(values, np.ndarray) else values
