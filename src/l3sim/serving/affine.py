"""The maximum of affine functions of the iteration index, and how long its maximiser stays the same.

A sub-batch system's iteration costs ``max(T_GPU_0, T_ATT_1(j)) + max(T_GPU_1, T_ATT_0(j))``, and a
DIMM-PIM attention stage is the busiest of many ranks, ``max_s(b_s + a_s j)``. Each is affine in j until
another term overtakes the current maximum; ``affine_max`` returns that piece and its length, so the
engine's closed-form advance stays exact.
"""

from __future__ import annotations

import math

import numpy as np


def affine_max(first: np.ndarray, slope: np.ndarray, limit: int) -> tuple[float, float, int]:
    """``(value_0, slope, valid)``: max_i(first_i + slope_i j) equals value_0 + slope j for j < valid.

    The maximiser at j = 0 is the largest ``first`` (ties: the steepest); a steeper term overtakes it
    after j = (first* - first_i) / (slope_i - slope*), so the piece holds up to the floor of the
    earliest such j (at equality both terms give the same value). ``valid`` is at least 1, at most
    ``limit``.
    """
    first = np.asarray(first, dtype=np.float64)
    slope = np.asarray(slope, dtype=np.float64)
    if first.size == 0:
        return 0.0, 0.0, limit
    top = first.max()
    candidates = np.flatnonzero(first == top)
    best = int(candidates[np.argmax(slope[candidates])])
    b, a = float(first[best]), float(slope[best])
    steeper = slope > a
    valid = limit
    if np.any(steeper):
        cross = (b - first[steeper]) / (slope[steeper] - a)
        valid = min(limit, int(math.floor(float(cross.min()))) + 1)
    return b, a, max(valid, 1)
