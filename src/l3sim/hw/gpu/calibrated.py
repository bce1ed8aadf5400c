"""The calibrated operator model: GEMM tiles and waves, per-kernel overheads, fitted efficiencies.

Why this shape (docs/gpu-model.md has the derivation and the validation):

* A GEMM of M token rows, N output columns and depth K runs as output tiles
  spread over the SMs. cuBLAS picks a tile shape per problem; the model takes
  the fastest of 128x128 (full ``tensor_efficiency``) and the 64-wide shapes
  128x64, 64x128 and 64x64 (times ``small_tile_efficiency``, less operand
  reuse). When the tiles cannot fill the SMs, the K dimension is split
  (split-K, at most down to ``MIN_SPLIT_DEPTH`` deep slices). Compute time =
  waves x the time of one tile's (slice's) multiply-adds on one SM at
  ``tensor_efficiency`` of the SM's share of the peak. This is what makes
  small-M and awkward-N/tp GEMMs slower than the roofline (wave and tile
  quantisation), from datasheet numbers only (SM count, peak).
* Memory time = (weights + M rows of activations in and out) / (HBM peak x
  ``hbm_efficiency``).
* The two overlap imperfectly: t = kernel_overhead + (t_c^p + t_m^p)^(1/p)
  with p = ``overlap_exponent`` (the roofline is p -> infinity, no overlap
  p = 1), plus a fixed per-kernel time (launch, prologue, tail).
* Elementwise kernels are memory-bound and come in two kinds. A row kernel
  (vLLM's norm, SiLU-and-mul, rotary embedding: one thread block per token
  row, looping over it) takes the longest of: its bytes at the streaming
  HBM rate; its waves of rows (``max_threads_per_sm`` / the block's threads
  in whole warps, at most ``max_blocks_per_sm``, rows per SM at once) x one
  row's bytes at ``row_bytes_per_cycle`` x the SM clock (few tokens cannot
  fill the GPU); and its reads at the rate Little's
  law allows when the GPU is full of them (every resident thread with one
  loop iteration's loads in flight for ``row_latency_cycles``). A flat
  kernel (PyTorch's residual add, GELU, ReLU) streams its bytes at
  ``flat_elementwise_efficiency``. Both add ``elementwise_overhead_s``.

Every term is at least the nominal roofline's (padded tiles do at least the
real multiply-adds, efficiencies are at most 1, the p-norm is at least the
max), and every term is non-decreasing in the token count.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from l3sim.hw.gpu.operators import Operator
from l3sim.spec.gpu_calibration import GPUCalibrationSpec
from l3sim.spec.platform import GPUSpec

# (rows, columns, uses small_tile_efficiency) of the GEMM tile shapes considered (CUTLASS/cuBLAS FP16 tiles).
TILE_SHAPES = ((128, 128, False), (128, 64, True), (64, 128, True), (64, 64, True))
WARP_THREADS = 32  # a thread block occupies whole warps of an SM
MIN_SPLIT_DEPTH = 256  # split-K never cuts K into slices shallower than this (cuBLAS keeps slices several k-tiles deep)
TABLE_MIN_TOKENS = 4096  # the first lookup table of integer token counts covers 0..4095; it doubles as needed
TABLE_MAX_TOKENS = 65536  # larger counts (rare: long prefills) are computed directly


def overlap_time_s(compute_s, memory_s, exponent: float):
    """(compute^p + memory^p)^(1/p): the imperfect overlap of a kernel's compute and memory times."""
    if np.isinf(exponent):
        return np.maximum(compute_s, memory_s)
    return (np.asarray(compute_s, dtype=float) ** exponent + np.asarray(memory_s, dtype=float) ** exponent) ** (
        1.0 / exponent
    )


def gemm_compute_time_s(m, n, k, gpu: GPUSpec, calibration: GPUCalibrationSpec):
    """Tile/wave/split-K compute time of GEMMs with ``m`` rows, ``n`` columns and depth ``k`` (broadcast)."""
    m, n, k = (np.asarray(x, dtype=float) for x in (m, n, k))
    sms = float(gpu.num_sms)
    per_sm_flops = gpu.peak_flops / sms * calibration.tensor_efficiency
    max_splits = np.maximum(1.0, np.floor(k / MIN_SPLIT_DEPTH))
    best = None
    for rows, cols, small in TILE_SHAPES:
        tiles = np.ceil(m / rows) * np.ceil(n / cols)
        splits = np.clip(np.floor(sms / np.maximum(tiles, 1.0)), 1.0, max_splits)
        waves = np.ceil(tiles * splits / sms)
        rate = per_sm_flops * (calibration.small_tile_efficiency if small else 1.0)
        time = waves * 2.0 * rows * cols * np.ceil(k / splits) / rate
        best = time if best is None else np.minimum(best, time)
    return best


class CalibratedOperators:
    """Calibrated times of a fixed list of operators, vectorised over token counts (cf. OperatorRoofline).

    The serving engine asks for one integer token count at a time, thousands of times per run, and the
    tile model costs a few dozen numpy operations per call; so a scalar integer count below
    ``TABLE_MAX_TOKENS`` is answered from a table of every count up to a power of two, computed in one
    vectorised pass when first needed (the same numbers: the table is the same computation).
    """

    def __init__(self, operators: Sequence[Operator], gpu: GPUSpec, calibration: GPUCalibrationSpec | None = None) -> None:
        self.operators = tuple(operators)
        self.names = tuple(op.name for op in self.operators)
        self.groups = tuple(dict.fromkeys(op.group for op in self.operators))
        self._group_matrix = np.array([[float(op.group == g) for g in self.groups] for op in self.operators])
        self._gpu = gpu
        self._cal = calibration or gpu.calibration
        self._gemm = np.array([op.is_gemm for op in self.operators])
        self._n = np.array([max(op.gemm_n, 1) for op in self.operators], dtype=float)
        self._k = np.array([max(op.gemm_k, 1) for op in self.operators], dtype=float)
        self._bytes_per_token = np.array([op.bytes_per_token for op in self.operators])
        self._fixed_bytes = np.array([op.fixed_bytes for op in self.operators])
        threads = np.array([op.row_threads for op in self.operators], dtype=float)
        self._row_kernel = threads > 0
        # blocks an SM holds: its threads over the block's, counted in whole 32-thread warps, at most its block limit
        warps = np.ceil(np.maximum(threads, 1.0) / WARP_THREADS) * WARP_THREADS
        resident = np.where(self._row_kernel, np.clip(gpu.max_threads_per_sm // warps, 1.0, gpu.max_blocks_per_sm), 1.0)
        self._rows_per_wave = gpu.num_sms * resident
        clock = gpu.sm_clock_hz
        self._row_wave_s = np.array([op.row_bytes for op in self.operators]) / (self._cal.row_bytes_per_cycle * clock)
        # Little's law: each resident thread keeps one loop iteration's loads in flight for row_latency_cycles.
        in_flight = self._rows_per_wave * threads * np.array([op.thread_bytes_in_flight for op in self.operators])
        read_cycles = np.array([op.row_read_bytes for op in self.operators]) * self._cal.row_latency_cycles
        self._loaded_s_per_token = np.divide(read_cycles, in_flight * clock, out=np.zeros(len(self.operators)),
                                             where=in_flight > 0)
        self._table = np.zeros((0, len(self.operators)))

    def times_s(self, num_tokens) -> np.ndarray:
        """Shape ``num_tokens.shape + (num_operators,)``; zero where ``num_tokens`` is 0 (the kernel is not run)."""
        if isinstance(num_tokens, (int, float, np.integer, np.floating)) or np.ndim(num_tokens) == 0:
            n = float(num_tokens)
            if n.is_integer() and 0 <= n < TABLE_MAX_TOKENS:
                if n >= len(self._table):
                    size = max(TABLE_MIN_TOKENS, 1 << int(n).bit_length())
                    self._table = self._compute_s(np.arange(size, dtype=float))
                return self._table[int(n)].copy()
        return self._compute_s(num_tokens)

    def _compute_s(self, num_tokens) -> np.ndarray:
        cal, gpu = self._cal, self._gpu
        n = np.asarray(num_tokens, dtype=float)[..., None]
        nbytes = self._fixed_bytes + n * self._bytes_per_token
        streaming = nbytes / (gpu.hbm_bw_bytes_per_s * cal.hbm_efficiency)
        compute = gemm_compute_time_s(n, self._n, self._k, gpu, cal)
        gemm = cal.kernel_overhead_s + overlap_time_s(compute, streaming, cal.overlap_exponent)
        row_waves = np.ceil(n / self._rows_per_wave) * self._row_wave_s
        row_kernel = np.maximum(np.maximum(streaming, row_waves), n * self._loaded_s_per_token)
        flat_kernel = nbytes / (gpu.hbm_bw_bytes_per_s * cal.flat_elementwise_efficiency)
        elementwise = cal.elementwise_overhead_s + np.where(self._row_kernel, row_kernel, flat_kernel)
        return np.where(n > 0, np.where(self._gemm, gemm, elementwise), 0.0)

    def group_times_s(self, num_tokens) -> np.ndarray:
        """Operator times summed per group (``self.groups`` order): shape ``num_tokens.shape + (num_groups,)``."""
        return self.times_s(num_tokens) @ self._group_matrix
