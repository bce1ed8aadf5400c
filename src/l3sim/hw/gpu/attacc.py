"""The GPU model of the AttAcc simulator (scale-snu/attacc_simulator), reimplemented for one TP group.

The L3 paper simulated its GPU side with AttAcc; this module reproduces
AttAcc's GPU formulas (read from the repository at commit c1540dec, files
``src/devices.py`` class ``xPU``, ``src/model.py``, ``src/config.py``,
``src/system.py``) so that l3sim can run with the paper's GPU assumptions.
No AttAcc code is copied; docs/gpu-attacc.md gives the formulas operator by
operator and how they differ from l3sim's own models.

What AttAcc models on the GPU, per decoder layer (``src/model.py``,
``Transformer.build``), each "layer" a GEMM-like (m, n, k, numOp) problem:

* FC layers ``qkv``, ``proj``, ``ff1``/``ff2`` (and ``ff3`` for gated FFNs):
  ``max(compute, memory)`` where compute = 2 m n k / (peak x 0.8 x u x int(2/d))
  and memory = off-chip bytes / (HBM bw x 0.85 x u). ``u`` is the SM occupancy
  of the thread-block grid, blocks / (ceil(blocks / SMs) x SMs), with blocks =
  ceil(m / tm) x ceil(n / tn) for the L1 tile (tm, tn) that AttAcc's tile search
  picks (it minimises L2 traffic / u^2); the off-chip bytes are those of the L2
  tile that minimises them within the L2 capacity. Small GEMMs are thus slowed
  by the SMs they leave idle, in both bounds.
* attention as three unfused kernels, ``score`` (Q K^T, a batched matmul that
  writes the score matrix), ``softmax`` and ``context`` (S V), each numOp =
  heads / tp x batch independent problems whose occupancy is numOp / (ceil(numOp /
  SMs) x SMs); a matmul's blocks are its numOp, not its tiles.
* two layer norms and one activation, each ``max(compute, fitted memory
  time)``: the memory time is a straight line fitted by AttAcc's authors on an
  A100-40GB (1555 GB/s) and scaled by 1555 GB/s / HBM bw; the compute time runs
  at the occupancy of a single thread block (1 / SMs), which makes a large
  activation compute-bound.
* two all-reduces (``comm_g2g``, after ``proj`` and after the FFN): tp - 1 steps
  of an NVLink transfer of S / tp bytes, each max(6.06 us + 0.009 ns/B x S / tp x
  600 GB/s / B, S / tp / (B / 2)), an interpolation of A100 measurements.

Not in AttAcc, hence not modelled here (the issue names them): residual adds,
rotary embedding, biases and any per-kernel launch overhead beyond the norm and
activation intercepts. AttAcc has no LM head either; :meth:`lm_head_time_s`
applies AttAcc's FC formula to the vocabulary projection (an extension, named
as such). AttAcc has no grouped-query attention (``gqa_size`` in
``src/config.py`` is 1 for every model and unused by ``Transformer.build``);
here a GQA group's query heads are stacked as the rows of one problem per KV
head (numOp = KV heads / tp), which for MHA is exactly AttAcc's shapes. AttAcc
has no chunked prefill: its summarisation stage is a full, non-causal square
``lin x lin``; a chunk of c tokens after d cached ones becomes c (x the GQA
group) rows against d + c keys (no causal saving). AttAcc picks the FFN by
model name ("LLAMA" gated, "OPT" ReLU, else GELU); here ``ModelSpec.gated_ffn``
and ``activation`` decide. AttAcc's decode batch has one context length;
a batch is mapped to num_requests requests of the mean length.

Quirks kept as AttAcc has them: the norm and activation intercepts (6.87 us,
8.29 us) are paid per call; FP8 doubles the compute peak (``int(2 / d)``); an
FC is not monotone in its rows (one more row can reach a full wave of thread
blocks: GPT-175B TP8's QKV takes 100 us for 64 rows, 67 us for 65); decode
attention depends on the number of requests (its blocks are KV heads / tp x
requests), and a lone prefill chunk occupies only KV heads / tp SMs.
One quirk dropped: AttAcc's NVLink time of a 0-byte transfer is 1 s; here
zero tokens cost zero (the kernel is not run).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import numpy as np

from l3sim.errors import ConfigError
from l3sim.spec.model import ModelSpec
from l3sim.spec.platform import GPUSpec

# Utilisation caps: src/config.py, SCALING_FACTOR['MAX_COMPUTE_UTIL'] and ['MAX_OFF_MEM_BW_UTIL'].
MAX_COMPUTE_UTIL = 0.8
MAX_OFF_MEM_BW_UTIL = 0.85
# FLOPs per element: src/model.py, Layer.get_flops (softmax and norm 5; activation relu 1, GLU 8 + 1, else 8).
SOFTMAX_FLOPS_PER_ELEMENT = 5
NORM_FLOPS_PER_ELEMENT = 5
RELU_FLOPS_PER_ELEMENT = 1
GLU_FLOPS_PER_ELEMENT = 9
GELU_FLOPS_PER_ELEMENT = 8
# Fitted memory times of norm and activation kernels, in microseconds (slope per byte, intercept), measured
# on a GPU with 1555 GB/s and scaled by 1555 GB/s / HBM bw: src/devices.py, xPU._mem_time.
NORM_US_PER_BYTE = 1.6e-6
NORM_FIXED_US = 6.87
ACTIVATION_US_PER_BYTE = 4.47e-7
ACTIVATION_FIXED_US = 8.29
ELEMENTWISE_FIT_HBM_BW = 1555e9
# NVLink transfer of one all-reduce step, "interpolation of real data on A100": 6060 ns + 0.009 ns per byte at
# 600 GB/s (scaled by 600 GB/s / link bw), at least the size over half the link: src/devices.py,
# xPU._io_time_energy.get_nvlink_time.
NVLINK_FIXED_NS = 6060.0
NVLINK_NS_PER_BYTE = 0.009
NVLINK_FIT_BW = 600e9
# comm_g2g layers per decoder layer (after proj and after the FFN): src/model.py, Transformer.build.
ALL_REDUCES_PER_LAYER = 2
# Norm layers per decoder layer (norm1, norm2): src/model.py, Transformer.build.
NORMS_PER_LAYER = 2

# Keys of AttAccGPUModel.layer_op_times_s, in layer order.
LAYER_OP_KEYS = ("qkv_proj", "out_proj", "norm", "ffn", "activation")


@dataclass(frozen=True)
class AttAccDevice:
    """The GPU numbers AttAcc needs beyond peak FLOP/s and bandwidth: SMs and cache sizes (src/config.py)."""

    num_cores: int
    l1_bytes_per_core: int
    l2_bytes: int


# src/config.py, make_xpu_config: A100 (108 SMs, 192 KiB L1 per SM, 40 MiB L2) and H100 (132, 256 KiB, 50 MiB).
ATTACC_A100 = AttAccDevice(num_cores=108, l1_bytes_per_core=192 * 1024, l2_bytes=40 * 1024 * 1024)
ATTACC_H100 = AttAccDevice(num_cores=132, l1_bytes_per_core=256 * 1024, l2_bytes=50 * 1024 * 1024)
# l3sim GPU presets -> AttAcc device. The H200 is not in AttAcc; it is the H100's die (same SMs and caches).
ATTACC_DEVICES = {"a100-80gb": ATTACC_A100, "h100-sxm": ATTACC_H100, "h200": ATTACC_H100}


def device_for(gpu: GPUSpec) -> AttAccDevice:
    """The AttAcc device numbers of a shipped GPU preset; other GPUs must pass an AttAccDevice."""
    try:
        return ATTACC_DEVICES[gpu.name]
    except KeyError:
        raise ConfigError(
            f"the attacc GPU model knows SM counts and caches of {', '.join(ATTACC_DEVICES)}; "
            f"gpu {gpu.name!r} needs an explicit AttAccDevice"
        ) from None


class _Kernels:
    """AttAcc's per-kernel times on one GPU; scalar. GEMMs are compiled and cached (``attacc_gemm``: the tile
    searches are loops); numba is imported when the first ``_Kernels`` is built, i.e. only under this source."""

    def __init__(self, gpu: GPUSpec, device: AttAccDevice, dtype_bytes: int) -> None:
        from l3sim.hw.gpu import attacc_gemm

        self.cores = device.num_cores
        self.l1_bytes = device.l1_bytes_per_core
        self.l2_bytes = device.l2_bytes
        self.d = dtype_bytes
        # src/devices.py, xPU._compute_time: FP8 runs at twice the FP16 peak ("int(2 / dbyte)").
        self.flops_per_s = gpu.peak_flops * MAX_COMPUTE_UTIL * int(2 / dtype_bytes)
        self.bytes_per_s = gpu.hbm_bw_bytes_per_s * MAX_OFF_MEM_BW_UTIL
        self.elementwise_scale = ELEMENTWISE_FIT_HBM_BW / gpu.hbm_bw_bytes_per_s
        self._occupancy = attacc_gemm.block_occupancy
        self._compiled_gemm = attacc_gemm.compiled_gemm_time()
        self.gemm_s = lru_cache(maxsize=65536)(self._gemm_s)

    def _gemm_s(self, m: float, n: float, k: float, num_op: float, fc: bool) -> float:
        """An FC (fc=True: blocks = tiles) or batched matmul (blocks = num_op) of num_op (m x k) x (k x n) products
        (``attacc_gemm.gemm_time_s``; floats throughout, so that one compiled signature serves every call)."""
        return self._compiled_gemm(float(m), float(n), float(k), float(num_op), bool(fc), self.cores, self.l1_bytes,
                                   self.l2_bytes, self.d, self.flops_per_s, self.bytes_per_s)

    def softmax_s(self, m: float, n: float, num_op: float) -> float:
        """Softmax of num_op (m x n) score matrices: 5 FLOPs per element, read and write, num_op blocks."""
        u = self._occupancy(num_op, self.cores)
        elements = m * n * num_op
        compute = SOFTMAX_FLOPS_PER_ELEMENT * elements / (self.flops_per_s * u)
        return max(compute, 2 * elements * self.d / (self.bytes_per_s * u))

    def norm_s(self, rows: float, width: float) -> float:
        """One layer norm: max(5 FLOPs per element on one thread block, fitted time of 3 x elements x d bytes)."""
        elements = rows * width
        compute = NORM_FLOPS_PER_ELEMENT * elements / (self.flops_per_s * self._occupancy(1, self.cores))
        memory = (NORM_US_PER_BYTE * self.elementwise_scale * 3 * elements * self.d + NORM_FIXED_US) * 1e-6
        return max(compute, memory)

    def activation_s(self, rows: float, width: float, flops_per_element: int, tensors: int) -> float:
        """The FFN activation: max(FLOPs on one thread block, fitted time of ``tensors`` x elements x d bytes)."""
        elements = rows * width
        compute = flops_per_element * elements / (self.flops_per_s * self._occupancy(1, self.cores))
        nbytes = tensors * elements * self.d
        memory = (ACTIVATION_US_PER_BYTE * self.elementwise_scale * nbytes + ACTIVATION_FIXED_US) * 1e-6
        return max(compute, memory)


def _elementwise(function: Callable[..., float], *arrays) -> np.ndarray | float:
    """Apply a scalar function elementwise over broadcast inputs; 0 where the first input is 0.

    Returns a float for scalar inputs. The first input is the work (tokens,
    rows, context) whose absence means the kernel is not run.
    """
    if all(isinstance(a, (int, float)) for a in arrays):  # one value each (the engine's calls): no arrays
        scalars = [float(a) for a in arrays]
        if any(v < 0 for v in scalars):
            raise ValueError("token and request counts must be non-negative")
        return float(function(*scalars)) if scalars[0] > 0 else 0.0
    values = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in arrays))
    if any(np.any(v < 0) for v in values):
        raise ValueError("token and request counts must be non-negative")
    out = np.zeros(values[0].shape)
    for index in np.ndindex(out.shape):
        if values[0][index] > 0:
            out[index] = function(*(float(v[index]) for v in values))
    return float(out) if out.ndim == 0 else out


def all_reduce_time_s(nbytes, tp: int, nvlink_bw_bytes_per_s: float) -> np.ndarray | float:
    """AttAcc's all-reduce of ``nbytes`` per GPU over ``tp`` GPUs (src/devices.py, comm_g2g); 0 for tp = 1.

    tp - 1 NVLink steps of nbytes / tp each, a step the larger of a line fitted
    to A100 measurements (scaled by 600 GB/s / the link's bandwidth, both
    directions) and the transfer at half the link's bandwidth.
    """
    size = np.asarray(nbytes, dtype=float)
    if tp == 1:
        result = np.zeros_like(size)
    else:
        step = size / tp
        fitted = (NVLINK_FIXED_NS + NVLINK_NS_PER_BYTE * step * NVLINK_FIT_BW / nvlink_bw_bytes_per_s) * 1e-9
        result = np.where(size > 0, (tp - 1) * np.maximum(fitted, step / (nvlink_bw_bytes_per_s / 2)), 0.0)
    return float(result) if result.ndim == 0 else result


class AttAccGPUModel:
    """AttAcc's GPU times for one model replica on ``tp`` GPUs; every method is elementwise (scalars allowed).

    ``layer_op_times_s`` and ``all_reduce_time_s`` are per layer and per call;
    multiply by ``num_layers`` and ``all_reduces_per_layer``. Attention methods
    cover all layers. ``device`` defaults to the AttAcc numbers of a shipped
    GPU preset (:data:`ATTACC_DEVICES`).
    """

    all_reduces_per_layer = ALL_REDUCES_PER_LAYER

    def __init__(self, model: ModelSpec, gpu: GPUSpec, tp: int, device: AttAccDevice | None = None) -> None:
        if tp < 1 or model.num_heads % tp or model.num_kv_heads % tp:
            raise ConfigError(
                f"model {model.name!r}: tp={tp} must divide num_heads ({model.num_heads}) and "
                f"num_kv_heads ({model.num_kv_heads})"
            )
        if model.dtype_bytes not in (1, 2):
            raise ConfigError(
                f"the attacc GPU model supports 1- and 2-byte data (W8A8, W16A16), not {model.dtype_bytes}"
            )
        if tp > 1 and gpu.nvlink_bw_bytes_per_s <= 0:
            raise ConfigError(f"tp={tp} needs NVLink: gpu {gpu.name!r} has nvlink_bw_bytes_per_s = 0")
        self.tp = tp
        self.num_layers = model.num_layers
        self._model = model
        self._kernels = _Kernels(gpu, device or device_for(gpu), model.dtype_bytes)
        self._link_bw = gpu.nvlink_bw_bytes_per_s  # both directions, as AttAcc's INTERFACE_BW
        # Attention problems: one per KV head and request, its rows the GQA group's query heads (1 for MHA).
        self._group = model.gqa_group
        self._problems_per_request = model.num_kv_heads // tp
        if model.gated_ffn:
            self._activation = (GLU_FLOPS_PER_ELEMENT, 3)  # reads gate and up, writes one
        elif model.activation == "relu":
            self._activation = (RELU_FLOPS_PER_ELEMENT, 2)
        else:
            self._activation = (GELU_FLOPS_PER_ELEMENT, 2)

    # ---- dense layers -----------------------------------------------------------
    def _fc_s(self, rows: float, n: float, k: float) -> float:
        return self._kernels.gemm_s(rows, n, k, 1.0, True)

    def _layer_op_s(self, key: str, rows: float) -> float:
        m, tp = self._model, self.tp
        h, f = m.hidden_size, m.ffn_hidden_size
        if key == "qkv_proj":
            return self._fc_s(rows, (m.q_size + 2 * m.kv_size) / tp, h)
        if key == "out_proj":
            return self._fc_s(rows, h, m.q_size / tp)
        if key == "ffn":  # ff1 (and ff2, the up matrix, when gated) column-parallel, then the down matrix
            up = self._fc_s(rows, f / tp, h) * (2 if m.gated_ffn else 1)
            return up + self._fc_s(rows, h, f / tp)
        if key == "norm":
            return NORMS_PER_LAYER * self._kernels.norm_s(rows, h)
        flops, tensors = self._activation
        return self._kernels.activation_s(rows, f / tp, flops, tensors)

    def layer_op_times_s(self, num_tokens) -> dict[str, np.ndarray | float]:
        """Per-layer time of each operator (:data:`LAYER_OP_KEYS`) over ``num_tokens`` rows on one GPU of the group.

        ``ffn`` is the FFN's GEMMs (two, three when gated), ``norm`` both layer
        norms, ``activation`` the FFN activation; 0 for 0 tokens.
        """
        return {key: _elementwise(lambda n, key=key: self._layer_op_s(key, n), num_tokens) for key in LAYER_OP_KEYS}

    def lm_head_time_s(self, num_logits) -> np.ndarray | float:
        """AttAcc's FC formula on the vocab-parallel LM head (m = logits, n = vocab / tp, k = hidden).

        Not in AttAcc (its model stops at the last decoder layer): an extension.
        """
        m = self._model
        return _elementwise(lambda rows: self._fc_s(rows, m.vocab_size / self.tp, m.hidden_size), num_logits)

    def all_reduce_time_s(self, num_tokens) -> np.ndarray | float:
        """One all-reduce of num_tokens x hidden x d bytes: tp - 1 NVLink steps of 1/tp of it; 0 for tp = 1."""
        size = np.asarray(num_tokens, dtype=float) * self._model.hidden_size * self._model.dtype_bytes
        return all_reduce_time_s(size, self.tp, self._link_bw)

    # ---- attention -------------------------------------------------------------
    def _problems(self, requests: float) -> float:
        """numOp of the attention kernels: one problem per KV head on this GPU and per request."""
        if requests <= 0:
            raise ValueError("attention over a positive number of tokens needs at least one request")
        return self._problems_per_request * requests

    def _attention_layer_s(self, query_rows: float, keys: float, num_op: float) -> float:
        """score + softmax + context of num_op problems, each query_rows queries against keys keys, one layer."""
        head_dim = self._model.head_dim
        score = self._kernels.gemm_s(query_rows, keys, head_dim, num_op, False)
        softmax = self._kernels.softmax_s(query_rows, keys, num_op)
        context = self._kernels.gemm_s(query_rows, head_dim, keys, num_op, False)
        return score + softmax + context

    def prefill_attention_time_s(self, chunk_tokens, done_tokens, num_requests=1) -> np.ndarray | float:
        """Unfused, non-causal attention of chunks of c tokens against all d + c keys, all layers; 0 for c = 0.

        ``num_requests`` equal chunks run as one batched kernel (AttAcc's
        summarisation stage batches its whole batch): numOp = KV heads / tp x
        num_requests thread blocks, and the time covers all of them. One chunk
        alone (the default) occupies only KV heads / tp SMs.
        """

        def one(chunk: float, done: float, requests: float) -> float:
            num_op = self._problems(requests)
            return self.num_layers * self._attention_layer_s(chunk * self._group, done + chunk, num_op)

        return _elementwise(one, chunk_tokens, done_tokens, num_requests)

    def decode_attention_time_s(self, total_context_tokens, num_requests) -> np.ndarray | float:
        """Decode attention of num_requests requests of mean context total / num_requests, all layers.

        Depends on num_requests through the SM occupancy of numOp = KV heads / tp x
        num_requests blocks; for a fixed num_requests it is affine in the total
        context (linear, plus the queries and outputs per request).
        """

        def one(total: float, requests: float) -> float:
            num_op = self._problems(requests)
            return self.num_layers * self._attention_layer_s(self._group, total / requests, num_op)

        return _elementwise(one, total_context_tokens, num_requests)
