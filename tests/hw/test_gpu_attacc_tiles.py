"""AttAcc's tile searches against the loops they are written from (src/devices.py, xPU._get_optimal_tile).

``attacc_gemm`` searches the L1 tiles without AttAcc's repeated (clipped) edges and the L2 tiles with two
pointers; the reference below is the search as AttAcc writes it, every candidate of the grid in turn
(strict ``<`` keeps the first minimum, ``min`` keeps the smallest traffic). Both must agree exactly,
fractional dimensions (a batch's mean context) included, or a run under the ``attacc`` source would change.
The searches run compiled by numba in a run; compiled and interpreted GEMM times must agree bit for bit.
"""

from __future__ import annotations

import math
import random

import pytest

from l3sim.hw.gpu.attacc import ATTACC_A100, ATTACC_H100, _Kernels
from l3sim.hw.gpu.attacc_gemm import (L1_TILE_EDGES, L1_TILE_K, L2_TILE_K_DIVISOR, compiled_gemm_time, gemm_time_s,
                                      l1_tile, l2_traffic)
from l3sim.spec import load_preset_data
from l3sim.spec.platform import GPUSpec


def _traffic(tm, tn, m, n, k):
    return math.ceil(n / tn) * m * k + math.ceil(m / tm) * n * k + m * n


def _occupancy(blocks, cores):
    return blocks / (math.ceil(blocks / cores) * cores)


def reference_l1_tile(kernels: _Kernels, m, n, k, fc):
    best, best_cost = (0.0, 0.0), math.inf
    for edge_m in L1_TILE_EDGES:
        tm = min(edge_m, m)
        for edge_n in L1_TILE_EDGES:
            tn = min(edge_n, n)
            if (tm + tn) * L1_TILE_K * kernels.d + tm * tn * kernels.d > kernels.l1_bytes:
                continue
            u = _occupancy(math.ceil(m / tm) * math.ceil(n / tn), kernels.cores) if fc else 1.0
            cost = _traffic(tm, tn, m, n, k) / (u * u)
            if cost < best_cost:
                best, best_cost = (tm, tn), cost
    return best


def reference_l2_traffic(kernels: _Kernels, tm1, tn1, m, n, k):
    tk = k / L2_TILE_K_DIVISOR
    best = math.inf
    for tm in [tm1 * i for i in range(1, int(m / tm1) + 1)] + [m]:
        tm = min(tm, m)
        for tn in [tn1 * i for i in range(1, int(n / tn1) + 1)] + [n]:
            tn = min(tn, n)
            if (tm + tn) * tk * kernels.d + tm * tn * kernels.d > kernels.l2_bytes and (tm != tm1 or tn != tn1):
                continue
            best = min(best, _traffic(tm, tn, m, n, k))
    return best


def search_l1(kernels: _Kernels, m, n, k, fc):
    return l1_tile(m, n, k, fc, kernels.cores, kernels.l1_bytes, kernels.d)


def search_l2(kernels: _Kernels, tm1, tn1, m, n, k):
    return l2_traffic(tm1, tn1, m, n, k, kernels.l2_bytes, kernels.d)


def _shapes(seed: int, count: int):
    """GEMM shapes of the kinds the model asks: FC layers (rows = tokens), attention score and context
    matmuls (rows = a GQA group's queries, a fractional mean context as keys), and odd sizes."""
    rng = random.Random(seed)
    for _ in range(count):
        m = rng.choice([1, 2, 7, 8, 64, 65, 129, 1000, 4096, rng.randint(1, 8192)])
        n = rng.choice([128.0, 1536.0, 7168.0, 3.5, 1000.25, rng.uniform(1, 40000), rng.randint(1, 50000)])
        k = rng.choice([128, 12288, 1024, rng.uniform(1, 40000), rng.randint(1, 30000)])
        yield m, n, k, rng.random() < 0.5


@pytest.mark.parametrize("device, dtype_bytes", [(ATTACC_A100, 2), (ATTACC_A100, 1), (ATTACC_H100, 2)])
def test_tile_searches_equal_the_loops_they_are_written_from(device, dtype_bytes):
    gpu = GPUSpec.parse(load_preset_data("gpus", "a100-80gb")[0])
    kernels = _Kernels(gpu, device, dtype_bytes)
    for m, n, k, fc in _shapes(seed=dtype_bytes + device.num_cores, count=300):
        tile = search_l1(kernels, m, n, k, fc)
        assert tile == reference_l1_tile(kernels, m, n, k, fc), (m, n, k, fc)
        assert search_l2(kernels, *tile, m, n, k) == reference_l2_traffic(kernels, *tile, m, n, k), (m, n, k, fc)


@pytest.mark.parametrize("l2_bytes", [40 * 1024 * 1024, 64 * 1024, 1000])
def test_l2_search_where_the_capacity_binds(l2_bytes):
    """Large tiles over the L2 capacity (40 MiB binds for the big shapes), most tiles over it (64 KiB), and every
    tile but the L1 tile over it (1,000 bytes: only AttAcc's exception for the L1 tile is left)."""
    from l3sim.hw.gpu.attacc import AttAccDevice

    device = AttAccDevice(num_cores=108, l1_bytes_per_core=192 * 1024, l2_bytes=l2_bytes)
    kernels = _Kernels(GPUSpec.parse(load_preset_data("gpus", "a100-80gb")[0]), device, 2)
    cases = [(8, 16, 4096, 8192.0, 4096), (64, 8, 3000, 1000.25, 128), (16, 512, 513, 28672.0, 8192),
             (1, 512, 1, 30000.5, 128), (128, 128, 8192, 8192.0, 28672)]
    for case in cases:
        assert search_l2(kernels, *case) == reference_l2_traffic(kernels, *case), case
    if l2_bytes == 1000:
        tm1, tn1, m, n, k = cases[0]
        assert search_l2(kernels, *cases[0]) == _traffic(tm1, tn1, m, n, k)


@pytest.mark.parametrize("l2_bytes", [256 * 1024, 768 * 1024, 2 * 1024 * 1024, 6 * 1024 * 1024])
def test_l2_search_on_small_l2_caches(l2_bytes):
    """L2 capacities from 256 KiB to 6 MiB, where the capacity binds for ordinary shapes: the two-pointer walk
    must still return the full grid's least traffic, for the L1 tile the search picks."""
    from l3sim.hw.gpu.attacc import AttAccDevice

    device = AttAccDevice(num_cores=108, l1_bytes_per_core=192 * 1024, l2_bytes=l2_bytes)
    kernels = _Kernels(GPUSpec.parse(load_preset_data("gpus", "a100-80gb")[0]), device, 2)
    for m, n, k, fc in _shapes(seed=l2_bytes, count=150):
        tile = search_l1(kernels, m, n, k, fc)
        assert search_l2(kernels, *tile, m, n, k) == reference_l2_traffic(kernels, *tile, m, n, k), (m, n, k, tile)


def test_a_tile_filling_l1_exactly_is_kept():
    """AttAcc skips a tile only when it exceeds L1: a 224 x 356 product with k-tile 32 in FP16 fills the A100's
    192 KiB exactly, (224 + 356) x 32 x 2 + 224 x 356 x 2 = 196,608 bytes, and is the least-traffic tile."""
    kernels = _Kernels(GPUSpec.parse(load_preset_data("gpus", "a100-80gb")[0]), ATTACC_A100, 2)
    assert (224 + 356) * L1_TILE_K * 2 + 224 * 356 * 2 == ATTACC_A100.l1_bytes_per_core
    assert search_l1(kernels, 224, 356, 128, False) == (224, 356) == reference_l1_tile(kernels, 224, 356, 128, False)


@pytest.mark.parametrize("dtype_bytes, l2_bytes, case", [(1, 691_857, (384, 320, 1040, 3688, 3932)),
                                                         (2, 245_919, (128, 256, 507, 460, 1173))])
def test_l2_search_tries_the_last_whole_multiple_of_the_l1_tile(dtype_bytes, l2_bytes, case):
    """Where the whole dimension does not fit the L2 but its largest multiple of the L1 tile does, that multiple is
    a candidate of its own (1040 rows = 2 x 384 + 272: the 768-row tile; 460 columns = 256 + 204: the 256-wide)."""
    from l3sim.hw.gpu.attacc import AttAccDevice

    device = AttAccDevice(num_cores=108, l1_bytes_per_core=192 * 1024, l2_bytes=l2_bytes)
    kernels = _Kernels(GPUSpec.parse(load_preset_data("gpus", "a100-80gb")[0]), device, dtype_bytes)
    assert search_l2(kernels, *case) == reference_l2_traffic(kernels, *case)


@pytest.mark.parametrize("device, dtype_bytes", [(ATTACC_A100, 2), (ATTACC_A100, 1), (ATTACC_H100, 2)])
def test_compiled_gemm_times_equal_the_interpreted_ones_bit_for_bit(device, dtype_bytes):
    """The GEMM time a run uses (numba-compiled, through ``_Kernels.gemm_s``) is the interpreted
    ``gemm_time_s`` to the last bit, on the same random shapes and on batched matmuls (fc=False, num_op > 1)."""
    gpu = GPUSpec.parse(load_preset_data("gpus", "a100-80gb")[0])
    kernels = _Kernels(gpu, device, dtype_bytes)
    compiled = compiled_gemm_time()
    rng = random.Random(7 + dtype_bytes)
    for m, n, k, fc in _shapes(seed=11 * dtype_bytes + device.num_cores, count=300):
        num_op = 1.0 if fc else float(rng.choice([1, 8, 96, 200, 1000]))
        args = (float(m), float(n), float(k), num_op, fc, kernels.cores, kernels.l1_bytes, kernels.l2_bytes,
                kernels.d, kernels.flops_per_s, kernels.bytes_per_s)
        expected = gemm_time_s(*args)
        assert compiled(*args) == expected and kernels.gemm_s(m, n, k, num_op, fc) == expected, (m, n, k, fc)
