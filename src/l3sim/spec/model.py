"""ModelSpec: the shape of a decoder-only transformer and the numbers derived from it."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from l3sim.errors import ConfigError
from l3sim.spec.base import Spec


class ParallelSpec(Spec):
    """Tensor-parallel and data-parallel degrees of one deployment."""

    tp: int = Field(1, ge=1, description="tensor-parallel degree (GPUs per model replica)")
    dp: int = Field(1, ge=1, description="data-parallel degree (model replicas)")

    @property
    def num_gpus(self) -> int:
        return self.tp * self.dp


class ModelSpec(Spec):
    """A decoder-only transformer. Head dim defaults to 128 and weights to FP16, as in the paper."""

    name: str
    num_layers: int = Field(ge=1)
    hidden_size: int = Field(ge=1)
    num_heads: int = Field(ge=1, description="query heads")
    num_kv_heads: int = Field(ge=1, description="KV heads: equal to num_heads for MHA, fewer for GQA")
    head_dim: int = Field(128, ge=1)
    ffn_hidden_size: int = Field(ge=1)
    gated_ffn: bool = Field(False, description="SwiGLU-style FFN with gate, up and down matrices")
    activation: Literal["gelu", "relu", "silu"] = "gelu"
    vocab_size: int = Field(ge=1)
    tie_embeddings: bool = Field(False, description="LM head shares the token-embedding matrix")
    linear_bias: bool = Field(False, description="every linear layer has a bias (GPT/OPT style)")
    qkv_bias: bool = Field(False, description="only the QKV projection has a bias (Qwen style)")
    learned_positions: int = Field(0, ge=0, description="rows of a learned position embedding (0: RoPE)")
    dtype_bytes: int = Field(2, ge=1, description="bytes per weight and per KV element (FP16 = 2)")
    parallel: ParallelSpec | None = Field(
        None,
        description="default TP/DP of this model (None: not stated, as in a Hugging Face config; a run then "
        "takes the smallest TP that fits, l3sim.spec.run.fitting_deployment)",
    )
    source: str = Field("", description="where the dimensions come from")

    @model_validator(mode="after")
    def _check_heads(self) -> "ModelSpec":
        if self.num_heads % self.num_kv_heads:
            raise ValueError(
                f"num_heads ({self.num_heads}) must be a multiple of num_kv_heads ({self.num_kv_heads})"
            )
        return self

    # ---- attention shape -------------------------------------------------
    @property
    def gqa_group(self) -> int:
        """Query heads per KV head (N_gqa in the paper): 1 for MHA, 8 for GQA-8."""
        return self.num_heads // self.num_kv_heads

    @property
    def q_size(self) -> int:
        return self.num_heads * self.head_dim

    @property
    def kv_size(self) -> int:
        return self.num_kv_heads * self.head_dim

    # ---- parameters ------------------------------------------------------
    @property
    def params_per_layer(self) -> int:
        h, q, kv, f = self.hidden_size, self.q_size, self.kv_size, self.ffn_hidden_size
        qkv = h * (q + 2 * kv)
        out = q * h
        ffn = h * f * (3 if self.gated_ffn else 2)
        norms = 2 * h * (2 if self.linear_bias else 1)
        biases = 0
        if self.linear_bias:
            biases = (q + 2 * kv) + h + f + h
        elif self.qkv_bias:
            biases = q + 2 * kv
        return qkv + out + ffn + norms + biases

    @property
    def embedding_params(self) -> int:
        embed = self.vocab_size * self.hidden_size + self.learned_positions * self.hidden_size
        head = 0 if self.tie_embeddings else self.vocab_size * self.hidden_size
        return embed + head + self.hidden_size  # final norm

    @property
    def num_params(self) -> int:
        return self.num_layers * self.params_per_layer + self.embedding_params

    @property
    def weight_bytes(self) -> int:
        return self.num_params * self.dtype_bytes

    @property
    def replicated_params(self) -> int:
        """Parameters every GPU of a TP group holds in full.

        Tensor parallelism shards every linear weight, the column-parallel biases (QKV, FFN up), the token
        embedding and the LM head (vocab-parallel); layer norms, the row-parallel biases (output projection,
        FFN down, added once after the all-reduce), learned position embeddings and the final norm are
        replicated on every GPU (Megatron-LM / vLLM layout).
        """
        h = self.hidden_size
        norms = 2 * h * (2 if self.linear_bias else 1)
        row_parallel_biases = 2 * h if self.linear_bias else 0
        return self.num_layers * (norms + row_parallel_biases) + self.learned_positions * h + h

    def weight_bytes_per_gpu(self, tp: int) -> float:
        """Bytes of weights on one GPU of a TP group of ``tp`` GPUs (``weight_bytes`` at tp = 1)."""
        replicated = self.replicated_params
        return ((self.num_params - replicated) / tp + replicated) * self.dtype_bytes

    # ---- KV cache --------------------------------------------------------
    @property
    def kv_bytes_per_token_per_layer(self) -> int:
        """K and V of one token in one layer."""
        return 2 * self.kv_size * self.dtype_bytes

    @property
    def kv_bytes_per_token(self) -> int:
        return self.kv_bytes_per_token_per_layer * self.num_layers

    # ---- FLOPs per token (per layer unless named otherwise) --------------
    @property
    def qkv_flops_per_token(self) -> int:
        return 2 * self.hidden_size * (self.q_size + 2 * self.kv_size)

    @property
    def out_proj_flops_per_token(self) -> int:
        return 2 * self.q_size * self.hidden_size

    @property
    def ffn_flops_per_token(self) -> int:
        return 2 * self.hidden_size * self.ffn_hidden_size * (3 if self.gated_ffn else 2)

    @property
    def lm_head_flops_per_token(self) -> int:
        """Once per model (not per layer)."""
        return 2 * self.hidden_size * self.vocab_size

    def attention_flops_per_token(self, context_tokens: int) -> int:
        """q.K^T and S.V over ``context_tokens`` cached tokens, one layer."""
        return 4 * self.q_size * context_tokens

    def flops_per_token(self, context_tokens: int = 0) -> dict[str, int]:
        """FLOPs of one token through the whole model, by operator."""
        n = self.num_layers
        return {
            "qkv_proj": n * self.qkv_flops_per_token,
            "attention": n * self.attention_flops_per_token(context_tokens),
            "out_proj": n * self.out_proj_flops_per_token,
            "ffn": n * self.ffn_flops_per_token,
            "lm_head": self.lm_head_flops_per_token,
        }


_HF_KEYS = {
    "num_layers": ("num_hidden_layers", "n_layer", "num_layers"),
    "hidden_size": ("hidden_size", "n_embd", "d_model"),
    "num_heads": ("num_attention_heads", "n_head", "num_heads"),
    "vocab_size": ("vocab_size",),
}


def _count(config: dict, keys: tuple[str, ...], path: Path, field: str, required: bool = True) -> int | None:
    """The first of ``keys`` that is set, as a positive integer; a wrong type or value names the key."""
    for key in keys:
        value = config.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{path}: {key!r} must be a positive integer, got {value!r}")
        return value
    if required:
        raise ConfigError(f"{path}: field {field!r} not found (looked for {', '.join(keys)})")
    return None


def _text(config: dict, key: str, path: Path, default: str = "") -> str:
    """A string field (absent or null: ``default``)."""
    value = config.get(key)
    if value is None:
        return default
    if not isinstance(value, str):
        raise ConfigError(f"{path}: {key!r} must be a string, got {value!r}")
    return value


def _architectures(config: dict, path: Path) -> list[str]:
    value = config.get("architectures") or []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError(f"{path}: 'architectures' must be a list of strings, got {value!r}")
    return value


def model_from_hf_config(path: str | Path, name: str | None = None) -> ModelSpec:
    """Read a Hugging Face ``config.json`` (Llama, Qwen2, Mistral, OPT, GPT-2/NeoX style) from disk.

    Every value used is type-checked here (an HF config is not a spec: its keys vary by family), so a
    string ``hidden_size`` or zero heads is a ConfigError naming the file and the key.
    """
    from l3sim.inputs import load_json

    path = Path(path)
    if path.is_dir():
        path = path / "config.json"
    config = load_json(path, "model config")
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: expected a JSON object")
    values = {field: _count(config, keys, path, field) for field, keys in _HF_KEYS.items()}
    hidden, heads = values["hidden_size"], values["num_heads"]
    model_type = _text(config, "model_type", path).lower()
    arch = " ".join(_architectures(config, path)).lower()
    is_opt = model_type == "opt" or "opt" in arch
    is_gpt = model_type in ("gpt2", "gpt_neox", "gptj", "gpt_bigcode")
    ffn = _count(config, ("intermediate_size", "ffn_dim", "n_inner"), path, "ffn_hidden_size", required=False)
    act = (_text(config, "hidden_act", path) or _text(config, "activation_function", path) or "silu").lower()
    activation = "relu" if "relu" in act else "gelu" if "gelu" in act else "silu"
    gated = not (is_opt or is_gpt)
    positions = 0
    if is_opt or model_type == "gpt2":
        found = _count(config, ("max_position_embeddings",), path, "learned_positions", required=False)
        positions = (found or 0) + (2 if is_opt else 0)
    tied = config.get("tie_word_embeddings", is_opt or is_gpt)
    if not isinstance(tied, bool):
        raise ConfigError(f"{path}: 'tie_word_embeddings' must be true or false, got {tied!r}")
    return ModelSpec.parse(
        {
            "name": name or _text(config, "_name_or_path", path) or path.parent.name or "hf-model",
            **values,
            "num_kv_heads": _count(config, ("num_key_value_heads",), path, "num_kv_heads", required=False) or heads,
            "head_dim": _count(config, ("head_dim",), path, "head_dim", required=False) or max(hidden // heads, 1),
            "ffn_hidden_size": ffn or 4 * hidden,
            "gated_ffn": gated,
            "activation": activation,
            "tie_embeddings": tied,
            "linear_bias": is_opt or is_gpt,
            "qkv_bias": model_type.startswith("qwen2"),
            "learned_positions": positions,
            "source": f"Hugging Face config {path}",
        },
        source=str(path),
    )
