"""Attention on the GPUs of one replica: prefill (FLOPs vs bytes) and decode (HBM-bandwidth bound).

Prefill chunk of c tokens after d cached tokens, per layer and GPU (heads
split over tp): causal attention visits c x d + c(c+1)/2 query-key pairs, each
costing 4 x head_dim FLOPs per query head (q.K^T and S.V), as FlashAttention
skips fully masked blocks; its memory traffic is Q in, O out, the chunk's new
K/V written once and all d + c cached K/V read once (one pass, as a fused
kernel with on-chip tiles does). Time = the two joined by
``overlap_time_s`` (the roofline's max, or the calibrated p-norm) at the
given rates, x layers. The chunks of one iteration share one variable-length
kernel, so no per-chunk kernel overhead is added.

Decode: every decode step reads each request's whole KV cache once; with Q
and the outputs negligible, time per layer = kernel overhead + KV bytes /
(tp GPUs x decode bandwidth x occupancy). Without the number of requests
the occupancy is 1 and the time is affine in the batch's total context
(linear when the overhead is 0, the roofline), so callers may pass sums.
With ``num_requests`` (calibrated model), split-KV decoding launches
requests x KV heads per GPU x ceil(mean context / split_kv_tokens) thread
blocks; fewer than the SMs leave bandwidth unused (occupancy = blocks / SMs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from l3sim.hw.gpu.calibrated import overlap_time_s
from l3sim.hw.gpu.roofline import Roofline
from l3sim.spec.model import ModelSpec

#: Up to this many chunks, ``GPUAttention.prefill_time_s`` works in plain floats (a plan's one to a few
#: chunks, thousands of times a run, where numpy's per-call cost dominates); more go through numpy.
FEW_CHUNKS = 16


@dataclass(frozen=True)
class SplitKVOccupancy:
    """How many SMs a split-KV decode attention kernel keeps busy."""

    num_sms: int
    kv_heads_per_gpu: int
    split_kv_tokens: int

    def fraction(self, total_context_tokens, num_requests):
        """Busy share of the SMs (0-1] for batches of ``num_requests`` with contexts summing to the total."""
        requests = np.maximum(np.asarray(num_requests, dtype=float), 1.0)
        mean_context = np.asarray(total_context_tokens, dtype=float) / requests
        blocks = requests * self.kv_heads_per_gpu * np.maximum(np.ceil(mean_context / self.split_kv_tokens), 1.0)
        return np.minimum(1.0, blocks / self.num_sms)

    def scalar_fraction(self, total_context_tokens: float, num_requests: float) -> float:
        """``fraction`` of one batch in plain floats (the same operations in the same order, so the same
        value): the GPU-only engine asks it a few times per plan, where numpy's per-call cost dominates."""
        requests = max(float(num_requests), 1.0)
        mean_context = float(total_context_tokens) / requests
        blocks = requests * self.kv_heads_per_gpu * max(float(math.ceil(mean_context / self.split_kv_tokens)), 1.0)
        return min(1.0, blocks / self.num_sms)


class GPUAttention:
    """Attention times of one replica (tp GPUs), all layers."""

    def __init__(
        self,
        model: ModelSpec,
        tp: int,
        prefill_rates: Roofline,
        decode_bytes_per_s: float,
        overlap_exponent: float = math.inf,
        kernel_overhead_s: float = 0.0,
        occupancy: SplitKVOccupancy | None = None,
    ) -> None:
        d = model.dtype_bytes
        self._layers = model.num_layers
        self._rates = prefill_rates
        self._exponent = overlap_exponent
        self._flops_per_pair = 4.0 * model.q_size / tp
        self._q_out_bytes_per_token = 2.0 * model.q_size / tp * d
        self._kv_bytes_per_token_layer = model.kv_bytes_per_token_per_layer / tp
        self._decode_s_per_token = model.kv_bytes_per_token / (tp * decode_bytes_per_s)
        self._decode_fixed_s = kernel_overhead_s * model.num_layers
        self._occupancy = occupancy

    def prefill_time_s(self, chunk_tokens, done_tokens):
        """Causal attention of chunks of ``chunk_tokens`` after ``done_tokens`` cached ones (elementwise)."""
        c = np.asarray(chunk_tokens, dtype=float)
        d = np.asarray(done_tokens, dtype=float)
        if c.ndim == 1 and c.shape == d.shape and c.size <= FEW_CHUNKS:
            return self._few_prefill_time_s(c.tolist(), d.tolist())
        pairs = c * d + c * (c + 1.0) / 2.0
        nbytes = c * self._q_out_bytes_per_token + (d + 2.0 * c) * self._kv_bytes_per_token_layer
        per_layer = overlap_time_s(
            pairs * self._flops_per_pair / self._rates.flops_per_s, nbytes / self._rates.bytes_per_s, self._exponent
        )
        return np.where(c > 0, per_layer * self._layers, 0.0)

    def _few_prefill_time_s(self, chunks: list[float], done: list[float]) -> np.ndarray:
        """``prefill_time_s`` of a few chunks (a plan's), its arithmetic in plain floats: the same operations in
        the same order, so the same values; only the overlap's powers stay in numpy, whose ``power`` may round
        differently from the C library's (numpy's SIMD loops)."""
        flops, rate, bytes_rate = self._flops_per_pair, self._rates.flops_per_s, self._rates.bytes_per_s
        q_out, kv = self._q_out_bytes_per_token, self._kv_bytes_per_token_layer
        compute = [(c * d + c * (c + 1.0) / 2.0) * flops / rate for c, d in zip(chunks, done)]
        memory = [(c * q_out + (d + 2.0 * c) * kv) / bytes_rate for c, d in zip(chunks, done)]
        if math.isinf(self._exponent):
            per_layer = [max(a, b) for a, b in zip(compute, memory)]
        else:
            per_layer = overlap_time_s(np.array(compute), np.array(memory), self._exponent).tolist()
        return np.array([t * self._layers if c > 0 else 0.0 for t, c in zip(per_layer, chunks)], dtype=float)

    def decode_time_s(self, total_context_tokens, num_requests=None):
        """Decode attention of a batch whose contexts sum to ``total_context_tokens``; 0 for no context.

        Python numbers (the engine's case, several times per iteration) are computed in plain floats,
        without a round trip through numpy; the result is the same.
        """
        if num_requests is None or self._occupancy is None:
            if isinstance(total_context_tokens, (int, float)):
                total = float(total_context_tokens)
                return total * self._decode_s_per_token + (self._decode_fixed_s if total > 0 else 0.0)
            total = np.asarray(total_context_tokens, dtype=float)
            return np.where(total > 0, total * self._decode_s_per_token + self._decode_fixed_s, 0.0)
        if isinstance(total_context_tokens, (int, float)) and isinstance(num_requests, (int, float)):
            total = float(total_context_tokens)
            if not total > 0:
                return 0.0
            return total * self._decode_s_per_token / self._occupancy.scalar_fraction(total, num_requests) + (
                self._decode_fixed_s)
        total = np.asarray(total_context_tokens, dtype=float)
        busy = self._occupancy.fraction(total, num_requests)
        return np.where(total > 0, total * self._decode_s_per_token / busy + self._decode_fixed_s, 0.0)
