"""A random forest flattened into arrays and walked by one compiled loop; fitted by scikit-learn or loaded
from the fit cache (``l3sim.cache``).

``RandomForestRegressor.predict`` walks each tree in turn with Python-level
overhead per tree (about 1 ms for 50 trees, whatever the number of rows); the
scheduler asks a few rows at every decision, thousands of times per run. Here
every tree's nodes live in one table and a numba-compiled loop (cached on
disk, like the DRAM engine's) walks every (row, tree) pair: a few microseconds
per call. A node's threshold, feature and children sit side by side in one
row of the table, so a step of the walk touches one cache line (the scheduler
walks between other work, with the table mostly out of cache), and the trees
are walked side by side so that their cache misses overlap. Same splits,
same leaves, and the trees' values summed in tree order then divided by the
count, as scikit-learn does: tested against ``predict``.

A fit is cached on disk under the content hash of its data and settings
(:func:`fit_forest`), so a later process with the same training data loads the
table instead of importing scikit-learn and refitting; a loaded table is
checked (:func:`check_forest_arrays`) so that the compiled walk, which does
no bounds checks, can only ever step inside it and always reaches a leaf.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from l3sim.cache import Arrays, cached_arrays, content_key, library_version
from l3sim.serving.predictors.forest_walk import FEATURE, LEFT, RIGHT, THRESHOLD, walk


@lru_cache(maxsize=None)
def _compiled_walk():
    import numba

    return numba.njit(cache=True, nogil=True)(walk)


class FlatForest:
    """The trees of a forest as one node table (threshold, split feature, children; -1: a leaf), the leaves'
    values and each tree's root. Node indices and features are small integers, exact as float64."""

    def __init__(self, roots: np.ndarray, nodes: np.ndarray, value: np.ndarray) -> None:
        self.roots = roots
        self.nodes = nodes
        self.value = value

    @classmethod
    def from_regressor(cls, forest) -> "FlatForest":
        """The table of a fitted ``sklearn.ensemble.RandomForestRegressor``."""
        trees = [estimator.tree_ for estimator in forest.estimators_]
        sizes = np.array([tree.node_count for tree in trees])
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        nodes = np.empty((int(sizes.sum()), 4))
        for tree, offset, size in zip(trees, offsets, sizes):
            rows = nodes[offset: offset + size]
            rows[:, THRESHOLD] = tree.threshold
            rows[:, FEATURE] = np.maximum(tree.feature, 0)
            rows[:, LEFT] = np.where(tree.children_left < 0, -1, tree.children_left + offset)
            rows[:, RIGHT] = np.where(tree.children_right < 0, -1, tree.children_right + offset)
        value = np.concatenate([t.value.reshape(-1) for t in trees]).astype(np.float64)
        return cls(offsets.astype(np.int64), nodes, value)

    def arrays(self) -> Arrays:
        """The three arrays that make the forest (what the fit cache stores)."""
        return {"roots": self.roots, "nodes": self.nodes, "value": self.value}

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Mean over trees of each row's leaf value (rows of float64 features)."""
        rows = np.ascontiguousarray(X, dtype=np.float64)
        out = np.empty(rows.shape[0])
        _compiled_walk()(rows, self.roots, self.nodes, self.value, out)
        return out


def check_forest_arrays(arrays: Arrays, num_features: int) -> None:
    """ValueError naming the first flaw of a forest's stored arrays: every walk over rows of ``num_features``
    columns must stay inside the table and end at a leaf (children come after their node, as scikit-learn
    numbers them, so no walk can loop)."""
    if set(arrays) != {"roots", "nodes", "value"}:
        raise ValueError(f"forest arrays: expected roots, nodes, value, got {sorted(arrays)}")
    roots, nodes, value = arrays["roots"], arrays["nodes"], arrays["value"]
    if roots.dtype != np.int64 or nodes.dtype != np.float64 or value.dtype != np.float64:
        raise ValueError(f"forest arrays: expected int64 roots and float64 nodes and value, got "
                         f"{roots.dtype}, {nodes.dtype}, {value.dtype}")
    if roots.ndim != 1 or roots.size == 0 or nodes.ndim != 2 or nodes.shape[1] != 4 or value.shape != nodes.shape[:1]:
        raise ValueError(f"forest arrays: shapes roots {roots.shape}, nodes {nodes.shape}, value {value.shape}")
    count = nodes.shape[0]
    if roots[0] != 0 or np.any(np.diff(roots) <= 0) or roots[-1] >= count:
        raise ValueError("forest arrays: roots must start at 0 and increase inside the table")
    index = np.arange(count)
    left, right, feature = nodes[:, LEFT], nodes[:, RIGHT], nodes[:, FEATURE]
    leaf = left == -1
    inner = ~leaf
    if np.any(right[leaf] != -1):
        raise ValueError("forest arrays: a leaf with a right child")
    for name, child in (("left", left[inner]), ("right", right[inner])):
        if np.any(child != np.floor(child)) or np.any(child <= index[inner]) or np.any(child >= count):
            raise ValueError(f"forest arrays: a {name} child outside the table or not after its node")
    if np.any(feature != np.floor(feature)) or np.any(feature < 0) or np.any(feature >= num_features):
        raise ValueError(f"forest arrays: split features must be integers in [0, {num_features})")
    if not np.all(np.isfinite(value)):
        raise ValueError("forest arrays: a leaf value that is not finite")


def fit_forest(X: np.ndarray, y: np.ndarray, n_estimators: int, seed: int) -> FlatForest:
    """``RandomForestRegressor(n_estimators, random_state=seed).fit(X, y)`` as a FlatForest, through the fit
    cache: the key covers the data, the settings and the scikit-learn and numpy versions."""
    rows = np.ascontiguousarray(X, dtype=np.float64)
    target = np.ascontiguousarray(y, dtype=np.float64)
    key = content_key("random-forest", library_version("scikit-learn"), library_version("numpy"),
                      n_estimators, seed, rows, target)

    def build() -> Arrays:
        from sklearn.ensemble import RandomForestRegressor

        regressor = RandomForestRegressor(n_estimators=n_estimators, random_state=seed).fit(rows, target)
        return FlatForest.from_regressor(regressor).arrays()

    return FlatForest(**cached_arrays("forest", key, build, lambda arrays: check_forest_arrays(arrays, rows.shape[1])))
