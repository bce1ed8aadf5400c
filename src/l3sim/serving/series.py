"""Exact statistics of a multiset given as arithmetic series plus loose values.

A steady stretch of k decode iterations whose durations are ``first + j *
increment`` (j = 0..k-1), each producing ``weight`` tokens, contributes k
time-between-token samples per request without ever listing them. Means and
quantiles are computed from the series in closed form, and exactly: the
quantile is an element of the multiset, with element j of a series defined as
the float ``first + j * increment``. The increment may be negative (a stretch
whose iterations get shorter); the elements are then non-increasing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

# Quantile convention: numpy's "inverted_cdf", the smallest sample x with
# (samples <= x) >= q * N. It always returns a sample, which lets the closed
# form be exact.
QUANTILE_METHOD = "inverted_cdf"

#: Bisections halve their bracket each round: 64 rounds end any bracket of int64 indices or float64 bit patterns.
BISECTION_ROUNDS = 64

#: Once the bracket of a quantile holds at most this many samples, they are listed and the quantile read
#: off them instead of bisecting on: the same sample either way (about 8 counting passes instead of ~55).
LIST_AT_MOST = 1 << 16


@dataclass
class SeriesSamples:
    """Accumulates samples as (first, increment, count, weight) series and as plain values."""

    _series: list[tuple[float, float, int, int]] = field(default_factory=list)
    _values: list[np.ndarray] = field(default_factory=list)

    def add_series(self, first: float, increment: float, count: int, weight: int) -> None:
        """Add ``weight`` copies of each of ``first + j * increment`` for j = 0..count-1."""
        if count > 0 and weight > 0:
            self._series.append((first, increment, int(count), int(weight)))

    def add_values(self, values: np.ndarray) -> None:
        """Add loose samples."""
        if values.size:
            self._values.append(np.asarray(values, dtype=np.float64))

    def extend(self, other: "SeriesSamples") -> None:
        self._series.extend(other._series)
        self._values.extend(other._values)

    def _arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        if self._series:
            table = np.array(self._series, dtype=np.float64)
            first, inc = table[:, 0], table[:, 1]
            count = table[:, 2].astype(np.int64)
            weight = table[:, 3].astype(np.int64)
        else:
            first = inc = np.zeros(0)
            count = weight = np.zeros(0, dtype=np.int64)
        values = np.sort(np.concatenate(self._values)) if self._values else np.zeros(0)
        return first, inc, count, weight, values

    @property
    def count(self) -> int:
        """Number of samples."""
        return int(sum(c * w for _, _, c, w in self._series) + sum(v.size for v in self._values))

    def mean(self) -> float:
        """Arithmetic mean of all samples (NaN when empty)."""
        n = self.count
        if n == 0:
            return math.nan
        total = sum(w * (c * f + i * c * (c - 1) / 2) for f, i, c, w in self._series)
        total += sum(float(v.sum()) for v in self._values)
        return total / n

    def quantiles(self, qs: tuple[float, ...]) -> list[float]:
        """The ``inverted_cdf`` quantiles of all samples (NaN when empty)."""
        n = self.count
        if n == 0:
            return [math.nan for _ in qs]
        first, inc, count, weight, values = self._arrays()
        return [_quantile(first, inc, count, weight, values, q, n) for q in qs]

    def summary(self) -> dict[str, float]:
        """mean, p50 and p99."""
        p50, p99 = self.quantiles((0.5, 0.99))
        return {"mean": self.mean(), "p50": p50, "p99": p99}


def _elements(first: np.ndarray, inc: np.ndarray, j: np.ndarray) -> np.ndarray:
    return first + j * inc


def _at_most(first: np.ndarray, inc: np.ndarray, count: np.ndarray, x: float) -> np.ndarray:
    """Per series, how many of its elements (the floats ``first + j * inc``) are <= x.

    The elements are monotone in j even after rounding: non-decreasing where ``inc >= 0``, so those <= x are
    a prefix; non-increasing where ``inc < 0`` (a steady stretch whose iterations get shorter: a decode
    kernel that splits the KV cache into more blocks as contexts grow, hence fills more SMs), so they are a
    suffix.
    """
    rising = inc >= 0
    if rising.all():
        return _last_rising(first, inc, count, x) + 1
    n = np.empty(first.size, dtype=np.int64)
    n[rising] = _last_rising(first[rising], inc[rising], count[rising], x) + 1
    falling = ~rising
    lo, hi = np.full(int(falling.sum()), -1, dtype=np.int64), count[falling]
    n[falling] = count[falling] - 1 - _bisect(first[falling], inc[falling], lo, hi, lambda e: e > x)
    return n


def _last_rising(first: np.ndarray, inc: np.ndarray, count: np.ndarray, x: float) -> np.ndarray:
    """Per non-decreasing series, the last j with element(j) <= x (-1: none)."""
    # Division gives a guess that usually brackets it; where rounding makes a run of equal elements, the
    # bracket falls back to the whole series.
    safe_inc = np.where(inc > 0, inc, 1.0)
    with np.errstate(over="ignore"):  # a huge quotient is clipped to the series anyway
        guess = np.where(inc > 0, np.floor(np.clip((x - first) / safe_inc, -2, count)), count - 1)
    lo = np.clip(guess - 2, -1, count - 1).astype(np.int64)  # want element(lo) <= x (or lo = -1)
    hi = np.clip(guess + 2, -1, count - 1).astype(np.int64) + 1  # want element(hi) > x (or hi = count)
    lo_ok = (lo < 0) | (_elements(first, inc, lo) <= x)
    hi_ok = (hi >= count) | (_elements(first, inc, hi) > x)
    lo = np.where(lo_ok, lo, -1)
    hi = np.where(hi_ok, hi, count)
    return _bisect(first, inc, lo, hi, lambda e: e <= x)


def _bisect(first: np.ndarray, inc: np.ndarray, lo: np.ndarray, hi: np.ndarray, holds) -> np.ndarray:
    """Per series, the last j in [lo, hi) where ``holds(element(j))``, for a test that holds on a prefix of
    the series: it holds at ``lo`` (or lo = -1) and not at ``hi`` (or hi = the count). Each round halves every
    bracket, so 64 rounds end any series an int64 can count."""
    for _ in range(BISECTION_ROUNDS):
        if not np.any(hi - lo > 1):
            break
        mid = (lo + hi) // 2
        inside = holds(_elements(first, inc, mid))
        active = hi - lo > 1
        lo = np.where(active & inside, mid, lo)
        hi = np.where(active & ~inside, mid, hi)
    return lo


def _count_at_most(
    first: np.ndarray, inc: np.ndarray, count: np.ndarray, weight: np.ndarray, values: np.ndarray, x: float
) -> int:
    """Samples <= x, counting series elements as the floats ``first + j * inc`` they are."""
    total = int(np.searchsorted(values, x, side="right"))
    if first.size == 0:
        return total
    return total + int((_at_most(first, inc, count, x) * weight).sum())


def _quantile(
    first: np.ndarray, inc: np.ndarray, count: np.ndarray, weight: np.ndarray, values: np.ndarray, q: float, n: int
) -> float:
    """The smallest sample x with at least ``target`` samples <= x: a step of the counting function."""
    target = max(1, math.ceil(q * n))
    lows = [values[0]] if values.size else []
    highs = [values[-1]] if values.size else []
    if first.size:
        last = _elements(first, inc, count - 1)
        lows.append(float(np.minimum(first, last).min()))
        highs.append(float(np.maximum(first, last).max()))
    lo, hi = min(lows), max(highs)
    lo_count = _count_at_most(first, inc, count, weight, values, lo)
    if lo_count >= target:
        return float(lo)
    # Bisect on the bit patterns of non-negative floats (monotone as integers),
    # keeping count(lo) < target <= count(hi) = hi_count; it ends on adjacent floats, and
    # the step of the counting function between them is a sample equal to hi.
    if lo < 0:
        raise ValueError("series quantiles are defined for non-negative samples (durations)")
    hi_count = n  # hi is the largest sample
    lo_bits = int(np.float64(lo).view(np.int64))  # Python ints: no overflow in the midpoint
    hi_bits = int(np.float64(hi).view(np.int64))
    for _ in range(BISECTION_ROUNDS):  # a float64 has 64 bits: the bracket of bit patterns halves each round
        if hi_bits - lo_bits <= 1:
            break
        if hi_count - lo_count <= LIST_AT_MOST:
            return _listed_quantile(first, inc, count, weight, values, _bits_float(lo_bits), _bits_float(hi_bits),
                                    target - lo_count)
        mid_bits = (lo_bits + hi_bits) // 2
        at_most = _count_at_most(first, inc, count, weight, values, _bits_float(mid_bits))
        if at_most >= target:
            hi_bits, hi_count = mid_bits, at_most
        else:
            lo_bits, lo_count = mid_bits, at_most
    return _bits_float(hi_bits)


def _bits_float(bits: int) -> float:
    return float(np.int64(bits).view(np.float64))


def _listed_quantile(
    first: np.ndarray, inc: np.ndarray, count: np.ndarray, weight: np.ndarray, values: np.ndarray, lo: float,
    hi: float, rank: int,
) -> float:
    """The ``rank``-th smallest (1-based, weights counted) of the samples in (lo, hi], listed."""
    begin, end = np.searchsorted(values, [lo, hi], side="right")
    samples, weights = [values[begin:end]], [np.ones(end - begin, dtype=np.int64)]
    if first.size:
        below_lo, below_hi = _at_most(first, inc, count, lo), _at_most(first, inc, count, hi)
        rising = inc >= 0  # the elements in (lo, hi]: after the prefix <= lo, or before the suffix <= lo
        start = np.where(rising, below_lo, count - below_hi)
        listed = below_hi - below_lo
        which = np.repeat(np.arange(first.size), listed)
        j = np.arange(int(listed.sum())) - np.repeat(np.cumsum(listed) - listed, listed) + start[which]
        samples.append(_elements(first[which], inc[which], j))
        weights.append(weight[which])
    samples_in, weights_in = np.concatenate(samples), np.concatenate(weights)
    order = np.argsort(samples_in, kind="stable")
    reached = np.cumsum(weights_in[order])
    return float(samples_in[order][np.searchsorted(reached, rank, side="left")])
