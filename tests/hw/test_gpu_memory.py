"""HBM arithmetic of GPUCostModel against hand computations from the paper's setup."""

from __future__ import annotations

import pytest
from gpu_csv_helpers import run_spec
from hypothesis import given, settings
from hypothesis import strategies as st

from l3sim.errors import ConfigError
from l3sim.hw.gpu import GPUCostModel
from l3sim.hw.gpu.memory import weight_bytes_per_gpu
from l3sim.spec.model import ModelSpec
from l3sim.spec.run import build_run_spec

GIB = 2**30


def test_gpt175b_weights_over_eight_gpus():
    # 175e9 parameters x 2 bytes = 350 GB; GPT-3's exact count is about 174.6e9.
    cost = GPUCostModel(run_spec("gpt-175b"))
    assert cost.weight_bytes_per_gpu * 8 == pytest.approx(350e9, rel=0.01)
    assert cost.weight_bytes_per_gpu == pytest.approx(350e9 / 8, rel=0.01)


def test_gpt175b_kv_capacity_near_paper_figure():
    # 8 x 80 GiB, 4 % reserved per GPU, minus ~350 GB of weights: the paper says "about 310 GB".
    cost = GPUCostModel(run_spec("gpt-175b"))
    hand = 8 * 80 * GIB * (1 - 0.04) - 350e9
    assert cost.kv_capacity_bytes == pytest.approx(hand, abs=3e9)
    assert 300e9 < cost.kv_capacity_bytes < 320e9
    assert cost.fits and cost.does_not_fit_reason == ""


def test_reserve_fraction_moves_capacity_linearly():
    low = GPUCostModel(run_spec("gpt-175b", ["gpu.activation_reserve_fraction=0.0"])).kv_capacity_bytes
    high = GPUCostModel(run_spec("gpt-175b", ["gpu.activation_reserve_fraction=0.1"])).kv_capacity_bytes
    assert low - high == pytest.approx(0.1 * 8 * 80 * GIB, rel=1e-12)


def test_model_that_does_not_fit_is_reported_not_raised():
    cost = GPUCostModel(run_spec("gpt-175b", parallel={"tp": 1, "dp": 1}))
    assert not cost.fits
    assert cost.kv_capacity_bytes == 0.0
    assert "does not fit" in cost.does_not_fit_reason and "gpt-175b" in cost.does_not_fit_reason
    # The time model still answers (a "does not fit" system is reported, not crashed).
    assert cost.fc_time_s(1, 1) > 0


def test_deployment_larger_than_platform_is_a_config_error():
    with pytest.raises(ConfigError, match="needs 16 GPUs"):
        GPUCostModel(run_spec("gpt-175b", parallel={"tp": 8, "dp": 2}))


def test_too_large_a_deployment_says_which_degrees_would_fit():
    """A TP given alone keeps a model's stated DP (llama-2-70b: tp=4, dp=2); tp=8 then needs 16 of the 8 GPUs,
    and the error names a deployment that fits: 8 GPUs / tp 8 = dp 1."""
    with pytest.raises(ConfigError) as error:
        GPUCostModel(build_run_spec(["tp=8"], platform="dgx-a100", model="llama-2-70b", workload="openr1"))
    message = str(error.value)
    assert "tp=8 x dp=2 needs 16 GPUs" in message and "--set tp=8 --set dp=1" in message


def test_tp_must_split_heads():
    with pytest.raises(ConfigError, match="must divide"):
        GPUCostModel(run_spec("qwen-72b", parallel={"tp": 3, "dp": 1}))


@settings(max_examples=50, deadline=None)
@given(
    layers=st.integers(1, 8), heads=st.sampled_from([8, 16, 32]), group=st.sampled_from([1, 2, 8]),
    ffn=st.integers(64, 4096), vocab=st.integers(100, 50000), bias=st.booleans(), tie=st.booleans(),
    positions=st.integers(0, 2048), tp=st.sampled_from([1, 2, 4, 8]),
)
def test_shards_add_up_to_the_model(layers, heads, group, ffn, vocab, bias, tie, positions, tp):
    model = ModelSpec(name="m", num_layers=layers, hidden_size=heads * 64, num_heads=heads, head_dim=64,
                      num_kv_heads=heads // min(group, heads), ffn_hidden_size=ffn, vocab_size=vocab,
                      linear_bias=bias, tie_embeddings=tie, learned_positions=positions)
    assert weight_bytes_per_gpu(model, 1) == pytest.approx(model.weight_bytes, rel=1e-12)
    per_gpu = weight_bytes_per_gpu(model, tp)
    # Sharding never loses weights and never holds more than a full copy per GPU.
    assert model.weight_bytes - 1e-6 <= tp * per_gpu <= tp * model.weight_bytes
    assert per_gpu >= model.weight_bytes / tp - 1e-6
