"""The monotone-fit floor against brute force over every nondecreasing assignment, and closed cases."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from l3sim.hw.gpu.noise_floor import monotone_mape_floor


def _brute_force_floor(size: np.ndarray, measured: np.ndarray) -> float:
    """Least mean |f/y - 1| over nondecreasing f taking measured values, one value per distinct size.

    A weighted absolute loss has an optimum at data values, so searching those is exhaustive.
    """
    sizes = np.unique(size)
    candidates = np.unique(measured)
    best = np.inf
    for values in itertools.combinations_with_replacement(candidates, len(sizes)):  # sorted = nondecreasing
        fit = np.asarray(values)[np.searchsorted(sizes, size)]
        best = min(best, float(np.mean(np.abs(fit / measured - 1.0))))
    return best


def test_increasing_data_has_no_floor():
    assert monotone_mape_floor([1, 2, 3], [1.0, 2.0, 5.0]) == 0.0


def test_one_decreasing_pair_by_hand():
    # sizes 1, 2 measured 2, 1: a constant c costs |c-2|/2 + |c-1|; c = 1 gives 0.5 (mean 0.25), c = 2 gives 1.
    assert monotone_mape_floor([1, 2], [2.0, 1.0]) == pytest.approx(0.25)


def test_equal_sizes_share_one_value():
    # Two measurements of one size, 1 and 3: one value c costs |c-1| + |c-3|/3, least at c = 1 (2/3, mean 1/3).
    assert monotone_mape_floor([5, 5], [1.0, 3.0]) == pytest.approx(1.0 / 3.0)


@pytest.mark.parametrize("seed", range(40))
def test_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 7))
    size = rng.integers(0, 5, size=n).astype(float)  # ties on purpose
    measured = rng.choice([0.5, 1.0, 1.5, 2.0, 4.0, 7.0], size=n)
    assert monotone_mape_floor(size, measured) == pytest.approx(_brute_force_floor(size, measured), abs=1e-12)


def test_input_order_does_not_matter():
    rng = np.random.default_rng(7)
    size, measured = rng.integers(0, 50, 60), rng.uniform(0.1, 3.0, 60)
    shuffle = rng.permutation(60)
    assert monotone_mape_floor(size, measured) == pytest.approx(monotone_mape_floor(size[shuffle], measured[shuffle]))


@pytest.mark.parametrize("measured", [[1.0, 0.0], [1.0, -2.0], [1.0, np.nan]])
def test_rejects_non_positive_or_nan(measured):
    with pytest.raises(ValueError):
        monotone_mape_floor([1, 2], measured)


def test_one_point_has_no_floor():
    assert monotone_mape_floor([3], [2.0]) == 0.0


@pytest.mark.parametrize(
    ("size", "measured"),
    [([1, 2, 3], [1.0, 2.0]), ([], []), ([[1, 2]], [[1.0, 2.0]])],
    ids=["unequal lengths", "empty", "two-dimensional"],
)
def test_rejects_misshaped_input(size, measured):
    with pytest.raises(ValueError, match="^size and measured must be equal-length, non-empty 1-D arrays$"):
        monotone_mape_floor(size, measured)


def test_rejects_infinite_size():
    with pytest.raises(ValueError, match="^monotone_fit needs finite sizes and finite, positive measurements$"):
        monotone_mape_floor([1, np.inf], [1.0, 2.0])


def test_three_pools_by_hand():
    # sizes 1..4 measured 3, 1, 4, 2: pool (3, 1) -> 1 (weights 1/3, 1: the 1 carries more than half),
    # then 4 > 1 stays, then (4, 2) pools -> 2 (weights 1/4, 1/2). Fit 1, 1, 2, 2: errors 2/3, 0, 1/2, 0.
    assert monotone_mape_floor([1, 2, 3, 4], [3.0, 1.0, 4.0, 2.0]) == pytest.approx((2 / 3 + 0.5) / 4)
