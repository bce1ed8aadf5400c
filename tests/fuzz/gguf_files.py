"""Tiny Llama GGUF files, whole and damaged, for ``l3sim verify functional --gguf``.

The functional check feeds a fixed SmolLM2 prompt whose largest token id is
34,519, so a model needs a vocabulary of 34,520; everything else is as small as
the KV layout allows (one layer, head size 64 like SmolLM2, FP16 tensors).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

VOCAB = 34_520
HIDDEN, HEADS, KV_HEADS, FFN = 128, 2, 1, 64

LAYER_TENSORS = ("attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate", "ffn_up",
                 "ffn_down")


def tensor_shapes(layers: int = 1, vocab: int = VOCAB) -> dict[str, tuple[int, ...]]:
    """Name -> (out, in) shape of every tensor of a tiny Llama (written independently of the loader)."""
    kv = KV_HEADS * HIDDEN // HEADS
    per_layer = {"attn_norm": (HIDDEN,), "attn_q": (HIDDEN, HIDDEN), "attn_k": (kv, HIDDEN),
                 "attn_v": (kv, HIDDEN), "attn_output": (HIDDEN, HIDDEN), "ffn_norm": (HIDDEN,),
                 "ffn_gate": (FFN, HIDDEN), "ffn_up": (FFN, HIDDEN), "ffn_down": (HIDDEN, FFN)}
    shapes = {"token_embd.weight": (vocab, HIDDEN), "output_norm.weight": (HIDDEN,)}
    for i in range(layers):
        shapes.update({f"blk.{i}.{name}.weight": shape for name, shape in per_layer.items()})
    return shapes


def write_gguf(path: Path, *, metadata: dict[str, Any] | None = None, drop: tuple[str, ...] = (),
               reshape: dict[str, tuple[int, ...]] | None = None, poison: dict[str, float] | None = None,
               vocab: int = VOCAB, seed: int = 0) -> Path:
    """Write a tiny Llama GGUF; ``metadata`` overrides keys (None removes one), ``drop`` leaves tensors out,
    ``reshape`` gives tensors other shapes, ``poison`` fills tensors with a value (NaN, inf)."""
    import gguf

    meta: dict[str, Any] = {
        "general.name": "tiny", "llama.block_count": 1, "llama.embedding_length": HIDDEN,
        "llama.attention.head_count": HEADS, "llama.attention.head_count_kv": KV_HEADS,
        "llama.feed_forward_length": FFN, "llama.rope.freq_base": 10000.0,
        "llama.attention.layer_norm_rms_epsilon": 1e-5,
    }
    meta.update(metadata or {})
    writer = gguf.GGUFWriter(path, "llama")
    for key, value in meta.items():
        if value is None:
            continue
        if isinstance(value, str):
            writer.add_string(key, value)
        elif isinstance(value, float):
            writer.add_float32(key, value)
        else:
            writer.add_uint32(key, value)
    rng = np.random.default_rng(seed)
    for name, shape in tensor_shapes(vocab=vocab).items():
        if name in drop:
            continue
        shape = (reshape or {}).get(name, shape)
        data = (rng.standard_normal(shape) * 0.1).astype(np.float16)
        if name in (poison or {}):
            data[...] = (poison or {})[name]
        writer.add_tensor(name, data)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
