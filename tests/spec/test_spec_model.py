"""Model specs: derived numbers against published figures and independent arithmetic."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from l3sim.errors import ConfigError
from l3sim.spec import ModelSpec, load_preset_data, model_from_hf_config, preset_names


def preset_model(name: str) -> ModelSpec:
    data, source = load_preset_data("models", name)
    return ModelSpec.parse(data, source)


@pytest.mark.parametrize(
    ("name", "published_params", "rel_tol"),
    [
        ("llama-2-7b", 6.74e9, 0.002),  # Meta model card: 6.74 B (HF safetensors total 6,738,415,616)
        ("llama-2-70b", 68.98e9, 0.002),  # HF safetensors total 68,976,648,192
        ("llama-3-8b", 8.03e9, 0.002),  # HF safetensors total 8,030,261,248
        ("llama-3-70b", 70.55e9, 0.002),  # HF safetensors total 70,553,706,496
        ("gpt-175b", 1.75e11, 0.01),  # Brown et al. 2020, Table 2.1: 175.0 B
        ("opt-66b", 66.0e9, 0.01),  # Zhang et al. 2022, Table 1: 66 B
    ],
)
def test_parameter_count_matches_published(name: str, published_params: float, rel_tol: float) -> None:
    assert preset_model(name).num_params == pytest.approx(published_params, rel=rel_tol)


def test_kv_bytes_per_token_gpt175b_is_4_5_mib() -> None:
    # 2 (K and V) x 96 layers x 96 heads x 128 dims x 2 bytes = 4,718,592 B = 4.5 MiB
    assert preset_model("gpt-175b").kv_bytes_per_token == 4.5 * 2**20


def test_kv_bytes_per_token_llama2_70b_is_320_kib() -> None:
    # 2 x 80 layers x 8 KV heads x 128 dims x 2 bytes = 327,680 B = 320 KiB
    assert preset_model("llama-2-70b").kv_bytes_per_token == 320 * 2**10


def test_qwen72b_as_paper_models_it_is_gqa8() -> None:
    model = preset_model("qwen-72b")
    assert (model.num_layers, model.hidden_size, model.num_heads) == (80, 8192, 64)
    assert model.gqa_group == 8
    assert model.parallel.tp == 4 and model.parallel.dp == 2


def test_paper_parallelism_defaults() -> None:
    assert preset_model("gpt-175b").parallel.tp == 8
    opt = preset_model("opt-66b").parallel
    assert (opt.tp, opt.dp) == (2, 4)


def test_every_model_preset_loads() -> None:
    names = preset_names("models")
    assert {"gpt-175b", "gpt-89b", "opt-66b", "qwen-72b", "llama-2-7b", "llama-2-70b"} <= set(names)
    for name in names:
        assert preset_model(name).weight_bytes == 2 * preset_model(name).num_params


def test_flops_per_token_is_about_twice_the_matmul_parameters() -> None:
    # The classic estimate: a forward pass costs ~2 FLOPs per matmul weight (Kaplan et al. 2020);
    # the input embedding is a lookup, not a matmul, so it is left out.
    model = preset_model("llama-2-7b")
    total = sum(model.flops_per_token(context_tokens=0).values())
    matmul_weights = model.num_params - model.vocab_size * model.hidden_size
    assert total == pytest.approx(2 * matmul_weights, rel=0.001)


def test_attention_flops_grow_linearly_with_context() -> None:
    model = preset_model("gpt-175b")
    one = model.attention_flops_per_token(1000)
    assert model.attention_flops_per_token(2000) == 2 * one
    # q.K^T and S.V: 2 x (2 x heads x head_dim) FLOPs per cached token per layer
    assert one == 1000 * 4 * 96 * 128


@given(
    layers=st.integers(1, 128),
    kv_heads=st.integers(1, 16),
    group=st.integers(1, 8),
    head_dim=st.sampled_from([64, 80, 128, 256]),
)
def test_kv_bytes_closed_form(layers: int, kv_heads: int, group: int, head_dim: int) -> None:
    model = ModelSpec(
        name="m",
        num_layers=layers,
        hidden_size=kv_heads * group * head_dim,
        num_heads=kv_heads * group,
        num_kv_heads=kv_heads,
        head_dim=head_dim,
        ffn_hidden_size=4 * kv_heads * group * head_dim,
        vocab_size=1000,
    )
    assert model.kv_bytes_per_token == 2 * layers * kv_heads * head_dim * 2
    assert model.gqa_group == group


def test_heads_must_divide() -> None:
    with pytest.raises(ConfigError, match="num_kv_heads"):
        ModelSpec.parse(
            dict(name="bad", num_layers=1, hidden_size=64, num_heads=6, num_kv_heads=4, ffn_hidden_size=1, vocab_size=1)
        )


def test_hf_llama_config_import_matches_preset(tmp_path) -> None:
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": 4096,
        "intermediate_size": 11008,
        "num_attention_heads": 32,
        "num_hidden_layers": 32,
        "num_key_value_heads": 32,
        "vocab_size": 32000,
        "hidden_act": "silu",
        "tie_word_embeddings": False,
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    imported = model_from_hf_config(tmp_path, name="imported")
    assert imported.num_params == preset_model("llama-2-7b").num_params
    assert imported.kv_bytes_per_token == preset_model("llama-2-7b").kv_bytes_per_token


def test_hf_opt_config_import(tmp_path) -> None:
    config = {
        "model_type": "opt",
        "hidden_size": 9216,
        "ffn_dim": 36864,
        "num_attention_heads": 72,
        "num_hidden_layers": 64,
        "vocab_size": 50272,
        "activation_function": "relu",
        "max_position_embeddings": 2048,
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    imported = model_from_hf_config(path)
    assert imported.num_params == preset_model("opt-66b").num_params
    assert not imported.gated_ffn and imported.activation == "relu"


def test_hf_config_missing_field_names_it(tmp_path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"hidden_size": 64}))
    with pytest.raises(ConfigError, match="num_layers"):
        model_from_hf_config(path)


def test_hf_config_bad_json_names_line(tmp_path) -> None:
    path = tmp_path / "config.json"
    path.write_text('{\n "hidden_size": 64,\n oops\n}')
    with pytest.raises(ConfigError, match="line 3"):
        model_from_hf_config(path)


def test_run_spec_accepts_a_hf_config_path_as_model(tmp_path) -> None:
    from l3sim.spec.run import build_run_spec

    config = {
        "model_type": "llama",
        "hidden_size": 4096,
        "intermediate_size": 14336,
        "num_attention_heads": 32,
        "num_hidden_layers": 32,
        "num_key_value_heads": 8,
        "vocab_size": 128256,
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    spec = build_run_spec(platform="dgx-a100", model=str(path), workload="openr1")
    assert spec.model.kv_bytes_per_token == preset_model("llama-3-8b").kv_bytes_per_token
    assert spec.model.num_params == preset_model("llama-3-8b").num_params
