"""A fitted scikit-learn forest flattened into arrays, evaluated for many rows and all trees at once.

``RandomForestRegressor.predict`` walks each tree in turn with Python-level
overhead per tree (about 1 ms for 50 trees, whatever the number of rows); the
scheduler asks a few rows at every decision, thousands of times per run. Here
every tree's nodes live in one array, and each step of the walk advances every
(tree, row) pair together with numpy, so one call costs depth x a few
vectorised operations. Same splits, same leaves, same mean: tested against
``predict``.
"""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import RandomForestRegressor


class FlatForest:
    """The trees of a fitted regressor as one node table (children, split feature, threshold, leaf value)."""

    def __init__(self, forest: RandomForestRegressor) -> None:
        trees = [estimator.tree_ for estimator in forest.estimators_]
        sizes = np.array([tree.node_count for tree in trees])
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        self.roots = offsets.astype(np.int64)
        left = np.concatenate([np.where(t.children_left < 0, -1, t.children_left + o) for t, o in zip(trees, offsets)])
        right = np.concatenate([np.where(t.children_right < 0, -1, t.children_right + o) for t, o in zip(trees, offsets)])
        self.is_leaf = left < 0
        # a leaf points at itself, so the walk can run every pair for the same number of steps
        nodes = np.arange(left.size)
        self.left = np.where(self.is_leaf, nodes, left)
        self.right = np.where(self.is_leaf, nodes, right)
        self.feature = np.concatenate([np.maximum(t.feature, 0) for t in trees]).astype(np.int64)
        self.threshold = np.concatenate([t.threshold for t in trees])
        self.value = np.concatenate([t.value.reshape(-1) for t in trees])
        self.depth = max(int(t.max_depth) for t in trees)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Mean over trees of each row's leaf value (rows of float64 features)."""
        rows = np.arange(X.shape[0])[None, :]
        node = np.broadcast_to(self.roots[:, None], (self.roots.size, X.shape[0])).copy()
        for _ in range(self.depth):
            go_left = X[rows, self.feature[node]] <= self.threshold[node]
            node = np.where(go_left, self.left[node], self.right[node])
        return self.value[node].mean(axis=0)
