"""The walk of a flattened random forest (``forest.FlatForest``'s node table): plain Python that numba compiles.

``walk_row`` is inlined wherever it is called from compiled code: by :func:`walk` (the forest's ``predict``)
and by the L3 policy's compiled form (``serving.schedulers.l3_kernel``), so both take the same splits and
sum the trees' values in the same order. numba's on-disk cache notices edits to the file of the function it
caches, not to the files that function calls into: whoever edits this file must clear the compiled caches of
both callers (``__pycache__/*.nbi``, ``*.nbc`` next to them), or touch their files.
"""

from __future__ import annotations

import numpy as np
from numba.extending import register_jitable

# columns of the node table: split threshold, split feature, left child, right child (-1: a leaf)
THRESHOLD, FEATURE, LEFT, RIGHT = range(4)


@register_jitable
def walk_row(row, roots, nodes, value) -> float:
    """Mean over trees of the value of the leaf ``row`` reaches (trees summed in order, then divided).

    The trees are walked side by side, one level of every tree per round, not one tree to its leaf after
    another: a step's load of the next node does not wait for the previous tree's walk, so the processor
    has up to one load per tree in flight (a walk misses cache at nearly every node; this halves its time
    on the scheduler's forests of 20 trees). Same leaves, same sum order, so the same value.
    """
    count = roots.size
    cursor = np.empty(count, np.int64)
    for tree in range(count):
        cursor[tree] = roots[tree]
    moving = True
    while moving:
        moving = False
        for tree in range(count):
            node = cursor[tree]
            left = int(nodes[node, LEFT])
            if left >= 0:
                moving = True
                right = int(nodes[node, RIGHT])
                cursor[tree] = left if row[int(nodes[node, FEATURE])] <= nodes[node, THRESHOLD] else right
    total = 0.0
    for tree in range(count):
        total += value[cursor[tree]]
    return total / count


def walk(X, roots, nodes, value, out) -> None:
    """``out[r]`` = the forest's prediction for row ``r`` of ``X``."""
    for r in range(X.shape[0]):
        out[r] = walk_row(X[r], roots, nodes, value)
