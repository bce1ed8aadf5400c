"""Attention on the GPUs of one replica: prefill (roofline) and decode (HBM-bandwidth bound).

Prefill chunk of c tokens after d cached tokens, per layer and GPU (heads
split over tp): causal attention visits c x d + c(c+1)/2 query-key pairs, each
costing 4 x head_dim FLOPs per query head (q.K^T and S.V), as FlashAttention
skips fully masked blocks; its memory traffic is Q in, O out, the chunk's new
K/V written once and all d + c cached K/V read once (one pass, as a fused
kernel with on-chip tiles does). Time = roofline of the two, x layers.

Decode: every decode step reads each request's whole KV cache once; with Q
and the outputs negligible, time = KV bytes / (tp x HBM bw x mem_util). It is
linear in the batch's total context, so callers may pass sums.
"""

from __future__ import annotations

import numpy as np

from l3sim.hw.gpu.roofline import Roofline
from l3sim.spec.model import ModelSpec


class GPUAttention:
    """Attention times of one replica (tp GPUs), all layers."""

    def __init__(self, model: ModelSpec, tp: int, roofline: Roofline) -> None:
        d = model.dtype_bytes
        self._layers = model.num_layers
        self._roofline = roofline
        self._flops_per_pair = 4.0 * model.q_size / tp
        self._q_out_bytes_per_token = 2.0 * model.q_size / tp * d
        self._kv_bytes_per_token_layer = model.kv_bytes_per_token_per_layer / tp
        self._decode_s_per_token = model.kv_bytes_per_token / (tp * roofline.bytes_per_s)

    def prefill_time_s(self, chunk_tokens, done_tokens):
        """Causal attention of chunks of ``chunk_tokens`` after ``done_tokens`` cached ones (elementwise)."""
        c = np.asarray(chunk_tokens, dtype=float)
        d = np.asarray(done_tokens, dtype=float)
        pairs = c * d + c * (c + 1.0) / 2.0
        nbytes = c * self._q_out_bytes_per_token + (d + 2.0 * c) * self._kv_bytes_per_token_layer
        per_layer = self._roofline.time_s(pairs * self._flops_per_pair, nbytes)
        return np.where(c > 0, per_layer * self._layers, 0.0)

    def decode_time_s(self, total_context_tokens):
        """Decode attention of a batch whose contexts sum to ``total_context_tokens`` (linear).

        A Python number (the engine's case, several times per iteration) is multiplied as a float,
        without a round trip through numpy; the result is the same.
        """
        if isinstance(total_context_tokens, (int, float)):
            return float(total_context_tokens) * self._decode_s_per_token
        return np.asarray(total_context_tokens, dtype=float) * self._decode_s_per_token
