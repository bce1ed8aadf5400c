"""Attention backends for the Llama forward pass: float64 reference, and PIM emulation on the DIMM layout."""

from __future__ import annotations

import numpy as np

from l3sim.errors import CapacityError
from l3sim.functional.arithmetic import PUArithmetic
from l3sim.functional.pim_attention import DEFAULT_CHUNK_TOKENS, pim_attention, reference_attention
from l3sim.functional.placement import KVCacheStore


class ReferenceAttention:
    """Keeps K/V as the model computed them (float32) and attends in float64."""

    def __init__(self, num_layers: int, num_kv_heads: int, head_dim: int, max_tokens: int) -> None:
        self.k = np.zeros((num_layers, num_kv_heads, max_tokens, head_dim), dtype=np.float32)
        self.v = np.zeros_like(self.k)
        self.length = np.zeros(num_layers, dtype=np.int64)

    def attend(self, layer: int, q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray:
        t = int(self.length[layer])
        if t >= self.k.shape[2]:
            raise CapacityError(f"reference KV cache is full ({self.k.shape[2]} tokens)")
        self.k[layer, :, t], self.v[layer, :, t] = k, v
        self.length[layer] = t + 1
        return reference_attention(q, self.k[layer, :, : t + 1], self.v[layer, :, : t + 1]).astype(np.float32)


class PIMAttention:
    """Writes each token's K/V into a :class:`KVCacheStore` and attends with the PIM emulation.

    Alongside, a :class:`ReferenceAttention` on the same q, k, v measures the
    error of every PIM output (``max_abs_err``; ``max_rel_err`` is the largest
    max|error| / max|reference| of one layer's output).
    """

    def __init__(self, store: KVCacheStore, arith: PUArithmetic, chunk_tokens: int = DEFAULT_CHUNK_TOKENS) -> None:
        self.store, self.arith, self.chunk_tokens = store, arith, chunk_tokens
        geo = store.geo
        self.reference = ReferenceAttention(store.num_layers, geo.num_kv_heads, geo.head_dim, store.max_tokens)
        self.max_abs_err = 0.0
        self.max_rel_err = 0.0
        self.calls = 0

    def attend(self, layer: int, q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray:
        self.store.append(k[:, None], v[:, None], layer=layer)
        out = pim_attention(self.store, layer, q, self.arith, self.chunk_tokens).output
        ref = self.reference.attend(layer, q, k, v).astype(np.float64)
        err = float(np.max(np.abs(out - ref)))
        scale = float(np.maximum(np.max(np.abs(ref)), np.finfo(np.float64).tiny))
        # np.maximum propagates NaN (Python's max would drop it), so a non-finite error cannot hide as 0
        self.max_abs_err = float(np.maximum(self.max_abs_err, err))
        self.max_rel_err = float(np.maximum(self.max_rel_err, err / scale))
        self.calls += 1
        return out
