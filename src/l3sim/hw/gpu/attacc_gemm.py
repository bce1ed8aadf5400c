"""AttAcc's time of one GEMM-like kernel on one GPU, tile searches included, compiled by numba.

The formulas are AttAcc's (src/devices.py, ``xPU._get_optimal_tile`` and the FC / matmul bounds; the
module docstring of ``attacc.py`` states them). They are plain Python that numba compiles unchanged
(``compiled_gemm_time``, once per process, cached on disk); ``gemm_time_s`` itself is the interpreted
version the tests compare with, bit for bit. A module of its own because it imports numba, which only a
run under the ``attacc`` source needs: a serving run asks for tens of thousands of new shapes (every
new token count, every batch's mean context), and the interpreted searches took 60-100 us each.
"""

from __future__ import annotations

import math
from functools import lru_cache

from numba.extending import register_jitable

# L1 tile edges tried for m and n, and the L1 tile's k: src/devices.py, xPU._get_optimal_tile (trange, l1_tk).
L1_TILE_EDGES = (8, 16, 32, 64, 128, 192, 256, 320, 384, 448, 512)
L1_TILE_K = 32
# The L2 tile's k is k / 64 ("experimentally found"): src/devices.py, xPU._get_optimal_tile.
L2_TILE_K_DIVISOR = 64


@register_jitable
def tile_traffic(tm: float, tn: float, m: float, n: float, k: float) -> float:
    """Elements moved by an (m x k) x (k x n) product tiled (tm, tn).

    A is re-read once per column tile, B once per row tile, C written once.
    """
    return math.ceil(n / tn) * m * k + math.ceil(m / tm) * n * k + m * n


@register_jitable
def block_occupancy(blocks: float, cores: int) -> float:
    """Fraction of SM slots busy when ``blocks`` thread blocks run in waves of ``cores`` (also the occupancy of
    ``attacc._Kernels``' softmax, norm and activation)."""
    return blocks / (math.ceil(blocks / cores) * cores)


@register_jitable
def l1_tile(m: float, n: float, k: float, fc: bool, cores: int, l1_bytes: int, d: int) -> tuple[float, float]:
    """The L1 tile (tm, tn) minimising L2 traffic / occupancy^2, the first minimum in AttAcc's order.

    A matmul's (fc=False) thread blocks are its problems whatever the tile, so its
    occupancy is a constant factor of every cost and drops out of the argmin.
    Edges at or above a dimension all clip to it: the search stops at the first
    such edge (a repeat has the same cost, and only a smaller cost replaces the
    best, so the first minimum is unchanged).
    """
    best_m, best_n, best_cost = 0.0, 0.0, math.inf
    for edge_m in L1_TILE_EDGES:
        tm = min(edge_m, m)
        for edge_n in L1_TILE_EDGES:
            tn = min(edge_n, n)
            if (tm + tn) * L1_TILE_K * d + tm * tn * d <= l1_bytes:
                u = block_occupancy(math.ceil(m / tm) * math.ceil(n / tn), cores) if fc else 1.0
                cost = tile_traffic(tm, tn, m, n, k) / (u * u)
                if cost < best_cost:
                    best_m, best_n, best_cost = tm, tn, cost
            if edge_n >= n:
                break
        if edge_m >= m:
            break
    return best_m, best_n


@register_jitable
def _l2_edge(index: int, count: int, l1_edge: float, whole: float) -> float:
    """The ``index``-th L2 tile edge of a dimension: multiples of the L1 tile's edge, the last the whole."""
    return whole if index == count - 1 else min(l1_edge * (index + 1), whole)


@register_jitable
def l2_traffic(tm1: float, tn1: float, m: float, n: float, k: float, l2_bytes: int, d: int) -> float:
    """Off-chip elements of the L2 tile (multiples of the L1 tile, or the whole dimension) that minimises them.

    A tile over the L2 capacity is skipped unless it is the L1 tile itself (src/devices.py).
    Walked as two pointers instead of AttAcc's full grid: the capacity test grows
    with both the rows and the columns while the traffic does not grow with the
    columns, so each row count's least traffic is at its widest tile within
    capacity, and that width only shrinks as the rows grow.
    """
    tk = k / L2_TILE_K_DIVISOR
    rows, cols = int(m / tm1) + 1, int(n / tn1) + 1  # multiples of the L1 tile, then the whole dimension
    best = tile_traffic(tm1, tn1, m, n, k)
    fitting = cols  # the columns 0 .. fitting - 1 fit beside the current row count
    for i in range(rows):
        tm = _l2_edge(i, rows, tm1, m)
        while fitting:
            tn = _l2_edge(fitting - 1, cols, tn1, n)
            if (tm + tn) * tk * d + tm * tn * d <= l2_bytes:
                break
            fitting -= 1
        if not fitting:
            break
        best = min(best, tile_traffic(tm, _l2_edge(fitting - 1, cols, tn1, n), m, n, k))
    return best


def gemm_time_s(m: float, n: float, k: float, num_op: float, fc: bool, cores: int, l1_bytes: int, l2_bytes: int,
                d: int, flops_per_s: float, bytes_per_s: float) -> float:
    """An FC (fc=True: blocks = tiles) or batched matmul (blocks = num_op) of num_op (m x k) x (k x n) products:
    max(FLOPs, off-chip bytes of the best L2 tile) at the occupancy of the best L1 tile's thread blocks."""
    tm, tn = l1_tile(m, n, k, fc, cores, l1_bytes, d)
    blocks = num_op * math.ceil(m / tm) * math.ceil(n / tn) if fc else num_op
    u = block_occupancy(blocks, cores)
    compute = 2.0 * m * n * k * num_op / (flops_per_s * u)
    memory = l2_traffic(tm, tn, m, n, k, l2_bytes, d) * d * num_op / (bytes_per_s * u)
    return max(compute, memory)


@lru_cache(maxsize=1)
def compiled_gemm_time():
    """``gemm_time_s`` compiled (once per process, cached on disk)."""
    import numba

    return numba.njit(cache=True, nogil=True)(gemm_time_s)
