"""A fitted scikit-learn forest flattened into arrays and walked by one compiled loop.

``RandomForestRegressor.predict`` walks each tree in turn with Python-level
overhead per tree (about 1 ms for 50 trees, whatever the number of rows); the
scheduler asks a few rows at every decision, thousands of times per run. Here
every tree's nodes live in one table and a numba-compiled loop (cached on
disk, like the DRAM engine's) walks every (row, tree) pair: a few microseconds
per call. A node's threshold, feature and children sit side by side in one
row of the table, so a step of the walk touches one cache line (the scheduler
walks between other work, with the table mostly out of cache). Same splits,
same leaves, and the trees' values summed in tree order then divided by the
count, as scikit-learn does: tested against ``predict``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from sklearn.ensemble import RandomForestRegressor


# columns of FlatForest.nodes
THRESHOLD, FEATURE, LEFT, RIGHT = range(4)


def _walk(X, roots, nodes, value, out):  # pragma: no cover - runs compiled
    for r in range(X.shape[0]):
        total = 0.0
        for root in roots:
            node = root
            while nodes[node, LEFT] >= 0:
                if X[r, int(nodes[node, FEATURE])] <= nodes[node, THRESHOLD]:
                    node = int(nodes[node, LEFT])
                else:
                    node = int(nodes[node, RIGHT])
            total += value[node]
        out[r] = total / roots.size


@lru_cache(maxsize=None)
def _compiled_walk():
    import numba

    return numba.njit(cache=True, nogil=True)(_walk)


class FlatForest:
    """The trees of a fitted regressor as one node table (threshold, split feature, children; -1: a leaf) and
    the leaves' values. Node indices and features are small integers, exact as float64."""

    def __init__(self, forest: RandomForestRegressor) -> None:
        trees = [estimator.tree_ for estimator in forest.estimators_]
        sizes = np.array([tree.node_count for tree in trees])
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        self.roots = offsets.astype(np.int64)
        self.nodes = np.empty((int(sizes.sum()), 4))
        for tree, offset, size in zip(trees, offsets, sizes):
            rows = self.nodes[offset: offset + size]
            rows[:, THRESHOLD] = tree.threshold
            rows[:, FEATURE] = np.maximum(tree.feature, 0)
            rows[:, LEFT] = np.where(tree.children_left < 0, -1, tree.children_left + offset)
            rows[:, RIGHT] = np.where(tree.children_right < 0, -1, tree.children_right + offset)
        self.value = np.concatenate([t.value.reshape(-1) for t in trees]).astype(np.float64)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Mean over trees of each row's leaf value (rows of float64 features)."""
        rows = np.ascontiguousarray(X, dtype=np.float64)
        out = np.empty(rows.shape[0])
        _compiled_walk()(rows, self.roots, self.nodes, self.value, out)
        return out
