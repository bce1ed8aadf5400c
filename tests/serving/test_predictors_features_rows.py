"""The feature builders against each other, row by row (independent code paths), and the linear PIM
predictor's column form against its row form."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l3sim.serving.predictors import PIMTimePredictor, gpu_feature_row, gpu_feature_rows, gpu_features, pim_features


@settings(max_examples=40, deadline=None)
@given(data=st.data(), stages=st.integers(1, 6), prefills=st.integers(0, 5))
def test_gpu_feature_rows_equal_one_stage_rows(data, stages, prefills):
    token = st.integers(0, 5000)
    chunks = np.array(data.draw(st.lists(st.lists(token, min_size=prefills, max_size=prefills),
                                         min_size=stages, max_size=stages)), dtype=float).reshape(stages, prefills)
    done = np.array(data.draw(st.lists(st.lists(token, min_size=prefills, max_size=prefills),
                                       min_size=stages, max_size=stages)), dtype=float).reshape(stages, prefills)
    decodes = np.array(data.draw(st.lists(st.integers(0, 300), min_size=stages, max_size=stages)), dtype=float)
    rows = gpu_feature_rows(chunks, done, decodes)
    for k in range(stages):
        np.testing.assert_array_equal(rows[k], gpu_features(chunks[k], done[k], decodes[k])[0])
        np.testing.assert_array_equal(rows[k], gpu_feature_row(chunks[k].tolist(), done[k].tolist(), decodes[k]))


def test_pim_features_scalar_and_array_columns():
    rows = pim_features(np.array([3.0, 4.0]), 2, np.array([7, 9]))
    assert rows.tolist() == [[3, 2, 7], [4, 2, 9]]


def test_linear_pim_columns_and_rows_are_the_fitted_linear_model():
    rng = np.random.default_rng(4)
    X = rng.uniform(0, 1e5, (50, 3))
    model = PIMTimePredictor().fit(X, X @ np.array([2e-9, 3e-5, 1e-8]) + 1e-3)
    context, decodes, other = rng.uniform(0, 1e5, 7), 12, rng.uniform(0, 1e4, 7)
    rows = pim_features(context, decodes, other)
    np.testing.assert_allclose(model.predict_columns(context, decodes, other),
                               rows @ model.coef_ + model.intercept_, rtol=1e-12)
    np.testing.assert_allclose(model.predict(rows), rows @ model.coef_ + model.intercept_, rtol=1e-12)
    assert isinstance(model.predict_columns(5e4, 3, 100.0), float)
    assert model.predict_columns(5e4, 3, 100.0) == pytest.approx(model.predict([[5e4, 3, 100.0]])[0], rel=1e-12)


def test_gpu_feature_rows_of_no_stage():
    assert gpu_feature_rows(np.zeros((0, 2)), np.zeros((0, 2)), np.zeros(0)).shape == (0, 10)
