"""A small numpy Llama forward pass (one token at a time) with pluggable attention.

Embedding, RMSNorm, RoPE in llama.cpp's interleaved-pair convention (the one the
GGUF Q/K rows are stored for), GQA attention through an :class:`AttentionBackend`,
SwiGLU FFN, LM head. Float32 throughout; the backend decides how attention is
computed and where the KV cache lives.
"""

from __future__ import annotations

from typing import Callable, Protocol

import numpy as np

from l3sim.functional.gguf_weights import LlamaWeights


class AttentionBackend(Protocol):
    """Keeps the KV cache and computes decode attention for one sequence."""

    def attend(self, layer: int, q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Append this token's k, v (kv_heads, head_dim) to ``layer`` and return attention of q (heads, head_dim)."""
        ...


def rms_norm(x: np.ndarray, weight: np.ndarray, eps: float) -> np.ndarray:
    return (x / np.sqrt(np.mean(x * x) + eps) * weight).astype(np.float32)


def rope_interleaved(x: np.ndarray, position: int, base: float) -> np.ndarray:
    """Rotate pairs (x[2i], x[2i+1]) of each head by position * base^(-2i/d) (llama.cpp 'normal' RoPE)."""
    d = x.shape[-1]
    theta = position * base ** (-np.arange(0, d, 2, dtype=np.float64) / d)
    cos, sin = np.cos(theta).astype(np.float32), np.sin(theta).astype(np.float32)
    even, odd = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x)
    out[..., 0::2] = even * cos - odd * sin
    out[..., 1::2] = even * sin + odd * cos
    return out


def silu(x: np.ndarray) -> np.ndarray:
    return x / (1.0 + np.exp(-x))


def forward_token(weights: LlamaWeights, token: int, position: int, attention: AttentionBackend) -> np.ndarray:
    """Logits (vocab,) float32 after feeding ``token`` at ``position``; the backend's cache grows by one."""
    cfg = weights.config
    hd = cfg.head_dim
    x = weights.embed[token].astype(np.float32)
    for i, layer in enumerate(weights.layers):
        h = rms_norm(x, layer.attn_norm, cfg.rms_eps)
        q = rope_interleaved((layer.wq @ h).reshape(cfg.num_heads, hd), position, cfg.rope_base)
        k = rope_interleaved((layer.wk @ h).reshape(cfg.num_kv_heads, hd), position, cfg.rope_base)
        v = (layer.wv @ h).reshape(cfg.num_kv_heads, hd)
        x = x + layer.wo @ attention.attend(i, q, k, v).reshape(-1).astype(np.float32)
        h = rms_norm(x, layer.ffn_norm, cfg.rms_eps)
        x = x + layer.w_down @ (silu(layer.w_gate @ h) * (layer.w_up @ h))
    return weights.lm_head @ rms_norm(x, weights.output_norm, cfg.rms_eps)


def greedy_generate(weights: LlamaWeights, prompt: list[int], new_tokens: int,
                    attention: AttentionBackend, on_step: Callable[[], None] | None = None,
                    ) -> tuple[list[int], np.ndarray]:
    """Feed ``prompt`` then pick the arg-max token ``new_tokens`` times.

    Returns the generated token ids and the logits that chose them, (new_tokens, vocab). ``on_step`` is
    called after each forward pass (``len(prompt) + new_tokens - 1`` of them), for a progress bar.
    """
    logits, chosen, history = None, [], []
    for position, token in enumerate(prompt):
        logits = forward_token(weights, token, position, attention)
        if on_step is not None:
            on_step()
    for step in range(new_tokens):
        token = int(np.argmax(logits))
        chosen.append(token)
        history.append(logits)
        if step + 1 < new_tokens:
            logits = forward_token(weights, token, len(prompt) + step, attention)
            if on_step is not None:
                on_step()
    return chosen, np.array(history)
