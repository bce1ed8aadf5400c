"""Closed-form series statistics against numpy on the expanded samples."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l3sim.serving import series as series_module
from l3sim.serving.series import SeriesSamples

series = st.tuples(
    st.floats(0.0, 2.0, allow_nan=False),
    # negative increments: stretches whose iterations get shorter (their elements decrease)
    st.one_of(st.just(0.0), st.floats(-0.05, 0.05, allow_nan=False)),
    st.integers(1, 60),
    st.integers(1, 5),
)


def _non_negative(first: float, inc: float, count: int) -> float:
    """``first`` raised so that a decreasing series stays at or above 0 (samples are durations)."""
    return first + max(0.0, -inc) * (count - 1)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(series, max_size=6),
    st.lists(st.floats(0.0, 3.0, allow_nan=False), max_size=30),
    st.sampled_from([0.0, 0.01, 0.25, 0.5, 0.9, 0.99, 1.0]),
)
def test_series_quantile_and_mean_match_expansion(parts, loose, q) -> None:
    samples = SeriesSamples()
    expanded = [np.array(loose)]
    for first, inc, count, weight in parts:
        first = _non_negative(first, inc, count)
        samples.add_series(first, inc, count, weight)
        expanded.append(np.repeat(first + np.arange(count) * inc, weight))
    samples.add_values(np.array(loose))
    everything = np.concatenate(expanded)
    if everything.size == 0:
        assert samples.count == 0 and np.isnan(samples.quantiles((q,))[0])
        return
    assert samples.count == everything.size
    assert samples.quantiles((q,))[0] == np.quantile(everything, q, method="inverted_cdf")
    assert np.isclose(samples.mean(), everything.mean(), rtol=1e-12, atol=1e-15)


def test_weights_shift_the_median() -> None:
    samples = SeriesSamples()
    samples.add_series(1.0, 1.0, 3, 1)  # 1, 2, 3
    samples.add_series(10.0, 0.0, 1, 4)  # 10 x4
    # 7 samples: 1 2 3 10 10 10 10 -> the 4th smallest is 10
    assert samples.quantiles((0.5,)) == [10.0]
    assert samples.mean() == (1 + 2 + 3 + 40) / 7


@pytest.mark.parametrize("list_at_most", [0, 50, series_module.LIST_AT_MOST])
def test_quantiles_are_the_same_sample_whether_bisected_or_listed(monkeypatch, list_at_most) -> None:
    """Large multisets (ties, flat, near-flat and decreasing series) against numpy on the expansion: pure bisection
    (0), listing from a narrow bracket (50) and the default threshold all give the same sample."""
    monkeypatch.setattr(series_module, "LIST_AT_MOST", list_at_most)
    rng = np.random.default_rng(3)
    qs = (0.0, 0.01, 0.5, 0.9, 0.99, 1.0)
    for case in range(40):
        samples, expanded = SeriesSamples(), []
        for _ in range(int(rng.integers(1, 30))):
            first = float(rng.uniform(0, 2))
            inc = float(rng.choice([0.0, rng.uniform(0, 0.05), rng.uniform(0, 1e-9), -rng.uniform(0, 1e-3),
                                    -rng.uniform(0, 1e-9)]))
            count, weight = int(rng.integers(1, 4000)), int(rng.integers(1, 6))
            first = _non_negative(first, inc, count)
            samples.add_series(first, inc, count, weight)
            expanded.append(np.repeat(first + np.arange(count) * inc, weight))
        loose = rng.uniform(0, 3, int(rng.integers(0, 500)))
        loose = np.round(loose, 1) if case % 3 == 0 else loose  # ties between loose values
        samples.add_values(loose)
        everything = np.concatenate([*expanded, loose])
        assert samples.quantiles(qs) == [float(np.quantile(everything, q, method="inverted_cdf")) for q in qs]


def test_a_decreasing_series_counts_its_suffix() -> None:
    """By hand: 5, 4, 3, 2, 1 (increment -1) beside 2.5 x3: sorted 1 2 2.5 2.5 2.5 3 4 5; the median (4th of 8)
    is 2.5, the 6th smallest 3. The bisection that assumed rising series counted 5 and 4 as <= 2.5 here."""
    samples = SeriesSamples()
    samples.add_series(5.0, -1.0, 5, 1)
    samples.add_series(2.5, 0.0, 3, 1)
    assert samples.quantiles((0.5, 0.75, 1.0)) == [2.5, 3.0, 5.0]
    assert samples.mean() == (15 + 7.5) / 8


def test_negative_samples_have_no_series_quantile() -> None:
    """The bisection runs on the bit patterns of non-negative floats; a negative sample is refused, named."""
    samples = SeriesSamples()
    samples.add_series(-1.0, 0.5, 4, 1)  # -1, -0.5, 0, 0.5
    with pytest.raises(ValueError, match="non-negative samples"):
        samples.quantiles((0.75,))
