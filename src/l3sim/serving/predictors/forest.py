"""A fitted scikit-learn forest flattened into arrays and walked by one compiled loop.

``RandomForestRegressor.predict`` walks each tree in turn with Python-level
overhead per tree (about 1 ms for 50 trees, whatever the number of rows); the
scheduler asks a few rows at every decision, thousands of times per run. Here
every tree's nodes live in one array and a numba-compiled loop (cached on
disk, like the DRAM engine's) walks every (row, tree) pair: a few microseconds
per call. Same splits, same leaves, and the trees' values summed in tree order
then divided by the count, as scikit-learn does: tested against ``predict``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from sklearn.ensemble import RandomForestRegressor


def _walk(X, roots, left, right, feature, threshold, value, out):  # pragma: no cover - runs compiled
    for r in range(X.shape[0]):
        total = 0.0
        for root in roots:
            node = root
            while left[node] >= 0:
                node = left[node] if X[r, feature[node]] <= threshold[node] else right[node]
            total += value[node]
        out[r] = total / roots.size


@lru_cache(maxsize=None)
def _compiled_walk():
    import numba

    return numba.njit(cache=True, nogil=True)(_walk)


class FlatForest:
    """The trees of a fitted regressor as one node table (children, split feature, threshold, leaf value)."""

    def __init__(self, forest: RandomForestRegressor) -> None:
        trees = [estimator.tree_ for estimator in forest.estimators_]
        sizes = np.array([tree.node_count for tree in trees])
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        self.roots = offsets.astype(np.int64)
        # -1 marks a leaf (no children)
        self.left = np.concatenate([np.where(t.children_left < 0, -1, t.children_left + o) for t, o in zip(trees, offsets)])
        self.right = np.concatenate([np.where(t.children_right < 0, -1, t.children_right + o)
                                     for t, o in zip(trees, offsets)])
        self.feature = np.concatenate([np.maximum(t.feature, 0) for t in trees]).astype(np.int64)
        self.threshold = np.concatenate([t.threshold for t in trees]).astype(np.float64)
        self.value = np.concatenate([t.value.reshape(-1) for t in trees]).astype(np.float64)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Mean over trees of each row's leaf value (rows of float64 features)."""
        rows = np.ascontiguousarray(X, dtype=np.float64)
        out = np.empty(rows.shape[0])
        _compiled_walk()(rows, self.roots, self.left, self.right, self.feature, self.threshold, self.value, out)
        return out
