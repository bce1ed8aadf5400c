"""The least mean absolute relative error any model rising with its input can reach on measured data.

Measured kernel and collective timings are not always monotone in their size:
the Vidur DGX-A100 all-reduce medians below 1 MiB jump between about 16 and
60 us for neighbouring message sizes. No physical model of a collective (a
latency plus bytes over a bandwidth, whatever its protocol switches) gets
faster as its message grows, so the best such a model can do on that data is
the best nondecreasing fit. ``monotone_mape_floor`` computes it exactly:
isotonic regression under the loss sum |f - y| / y, solved by pool-adjacent-
violators with each pooled block at its 1/y-weighted median (the minimiser of
a weighted absolute loss; pooling is optimal for any separable convex loss,
Barlow et al., *Statistical Inference under Order Restrictions*, 1972).
`l3sim validate gpu` prints it beside the model's error so a reader can tell
model error from measurement scatter.
"""

from __future__ import annotations

import numpy as np


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """The lowest value at which the cumulative weight reaches half the total (minimises sum w |v - m|)."""
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, cumulative[-1] / 2.0)])


def monotone_fit(size, measured) -> tuple[np.ndarray, np.ndarray]:
    """(measured, fit) sorted by size: the fit nondecreasing in size minimising sum |f - y| / y.

    Points of equal size get one value (a model sees only the size).
    """
    x = np.asarray(size, dtype=float)
    y = np.asarray(measured, dtype=float)
    if x.shape != y.shape or y.ndim != 1 or y.size == 0:
        raise ValueError("size and measured must be equal-length, non-empty 1-D arrays")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))) or np.any(y <= 0):
        raise ValueError("monotone_fit needs finite sizes and finite, positive measurements")
    order = np.lexsort((y, x))
    x, y = x[order], y[order]
    weights = 1.0 / y
    starts = np.flatnonzero(np.concatenate([[True], x[1:] != x[:-1]]))
    ends = np.append(starts[1:], x.size)
    blocks: list[tuple[int, int, float]] = []  # (first point, end exclusive, value)
    for start, end in zip(starts.tolist(), ends.tolist()):
        blocks.append((start, end, _weighted_median(y[start:end], weights[start:end])))
        while len(blocks) > 1 and blocks[-2][2] > blocks[-1][2]:
            first, last = blocks[-2][0], blocks[-1][1]
            blocks[-2:] = [(first, last, _weighted_median(y[first:last], weights[first:last]))]
    fit = np.empty_like(y)
    for start, end, value in blocks:
        fit[start:end] = value
    return y, fit


def monotone_mape_floor(size, measured) -> float:
    """Mean |f / y - 1| of the best fit nondecreasing in ``size``: no monotone model does better."""
    y, fit = monotone_fit(size, measured)
    return float(np.mean(np.abs(fit / y - 1.0)))
