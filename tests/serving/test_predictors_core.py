"""Predictors: features, the flattened forest against scikit-learn, the linear fit, online refits, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.ensemble import RandomForestRegressor

from l3sim.errors import ConfigError
from l3sim.experiments.predictor_validation import relative_error_summary
from l3sim.serving.predictors import (
    GPU_FEATURES,
    GPUTimePredictor,
    PIMTimePredictor,
    gpu_features,
    pim_features,
)
from l3sim.serving.predictors.forest import FlatForest


def test_gpu_features_sorted_slots_padding_and_totals():
    row = gpu_features([5, 40, 7, 1], [100, 0, 3, 9], 12)
    assert row.shape == (1, len(GPU_FEATURES))
    named = dict(zip(GPU_FEATURES, row[0]))
    # the three largest chunks, largest first, each with its own done tokens
    assert (named["chunk_tokens_0"], named["done_tokens_0"]) == (40, 0)
    assert (named["chunk_tokens_1"], named["done_tokens_1"]) == (7, 3)
    assert (named["chunk_tokens_2"], named["done_tokens_2"]) == (5, 100)
    # the fourth prefill still counts in the totals
    assert named["num_prefills"] == 4 and named["prefill_tokens"] == 53
    assert named["num_decodes"] == 12 and named["batch_tokens"] == 65


def test_gpu_features_many_decode_counts_and_no_prefill():
    rows = gpu_features([], [], np.array([0, 3, 9]))
    assert rows.shape == (3, len(GPU_FEATURES))
    assert np.all(rows[:, :-2] == 0)
    assert list(rows[:, -1]) == [0, 3, 9] and list(rows[:, -2]) == [0, 3, 9]


def test_pim_features_broadcast():
    rows = pim_features(np.array([10, 20]), np.array([1, 2]), 7)
    assert rows.tolist() == [[10, 1, 7], [20, 2, 7]]


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16), rows=st.integers(5, 80), width=st.integers(1, 6), trees=st.integers(1, 12))
def test_flat_forest_equals_sklearn(seed, rows, width, trees):
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 50, size=(rows, width)).astype(float)  # ties on purpose: thresholds between equal values
    y = rng.normal(size=rows)
    forest = RandomForestRegressor(n_estimators=trees, random_state=seed).fit(X, y)
    query = np.vstack([X, rng.integers(-5, 55, size=(20, width)).astype(float)])
    np.testing.assert_allclose(FlatForest.from_regressor(forest).predict(query), forest.predict(query), rtol=0, atol=0)  # same sum order as sklearn: exact


def test_gpu_predictor_matches_its_sklearn_forest():
    rng = np.random.default_rng(3)
    X = rng.uniform(0, 100, size=(200, len(GPU_FEATURES)))
    y = X[:, -1] * 1e-4 + 0.01
    predictor = GPUTimePredictor(n_estimators=10, seed=1).fit(X, y)
    forest = RandomForestRegressor(n_estimators=10, random_state=1).fit(X, y)
    np.testing.assert_allclose(predictor.predict(X), forest.predict(X), rtol=1e-12)


def test_pim_predictor_recovers_a_linear_law():
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.uniform(0, 1e6, 50), rng.integers(0, 100, 50), rng.integers(0, 1000, 50)])
    coef, intercept = np.array([3e-7, 2e-5, 1e-6]), 4e-4
    predictor = PIMTimePredictor().fit(X, X @ coef + intercept)
    np.testing.assert_allclose(predictor.coef_, coef, rtol=1e-6)
    assert predictor.intercept_ == pytest.approx(intercept, rel=1e-6)
    query = np.array([[5e5, 10, 100]])
    assert predictor.predict(query)[0] == pytest.approx(float(query[0] @ coef + intercept), rel=1e-9)


def test_online_update_refits_every_k_observations_and_follows_new_data():
    X = np.column_stack([np.arange(1, 21) * 1000.0, np.arange(1, 21), np.zeros(20)])
    predictor = PIMTimePredictor(refit_every=5, max_samples=10).fit(X, X[:, 0] * 1e-6)
    new_law = X[:, 0] * 2e-6
    refits = [predictor.update(X[i: i + 1], new_law[i: i + 1]) for i in range(10)]
    assert refits == [False, False, False, False, True] * 2
    assert predictor.refits == 2
    # max_samples = 10 keeps only the last ten observations, all on the new law
    np.testing.assert_allclose(predictor.predict(X), new_law, rtol=1e-6)


def test_bad_input_is_a_config_error():
    with pytest.raises(ConfigError, match="before fit"):
        PIMTimePredictor().predict([[1, 2, 3]])
    with pytest.raises(ConfigError, match="width 3"):
        PIMTimePredictor().fit(np.ones((4, 2)), np.ones(4))
    with pytest.raises(ConfigError, match="targets"):
        PIMTimePredictor().fit(np.ones((4, 3)), np.ones(3))
    with pytest.raises(ConfigError, match="refit_every"):
        GPUTimePredictor(refit_every=0)


def test_relative_error_summary_hand_values():
    summary = relative_error_summary(np.array([1.1, 2.0, 2.7, 5.0]), np.array([1.0, 2.0, 3.0, 0.0]))
    assert summary["points"] == 3  # a zero actual has no relative error
    assert summary["max"] == pytest.approx(0.1)
    assert summary["median"] == pytest.approx(0.1)
    assert summary["mean"] == pytest.approx(0.2 / 3)
