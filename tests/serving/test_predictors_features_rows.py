"""The many-row GPU feature builder against the one-stage builder, row by row (two independent code paths)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from l3sim.serving.predictors import gpu_feature_rows, gpu_features, pim_features


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


def test_pim_features_scalar_and_array_columns():
    rows = pim_features(np.array([3.0, 4.0]), 2, np.array([7, 9]))
    assert rows.tolist() == [[3, 2, 7], [4, 2, 9]]
