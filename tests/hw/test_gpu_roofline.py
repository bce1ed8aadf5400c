"""Roofline bounds of GPUCostModel.fc_time_s, derived from ModelSpec's own FLOP counts and the GPU datasheet."""

from __future__ import annotations

import numpy as np
import pytest
from gpu_csv_helpers import roofline_spec
from hypothesis import given, settings
from hypothesis import strategies as st

from l3sim.hw.gpu import BREAKDOWN_KEYS, GPUCostModel

MODELS = ["gpt-175b", "qwen-72b", "opt-66b", "llama-2-70b", "llama-3-8b"]
MODELS_PARALLEL = {m: GPUCostModel(roofline_spec(m)) for m in MODELS}


def _layer_flops_per_token(model) -> int:
    return model.qkv_flops_per_token + model.out_proj_flops_per_token + model.ffn_flops_per_token


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(MODELS), st.integers(1, 65536), st.integers(0, 512))
def test_fc_time_respects_compute_and_memory_floors(name, tokens, logits):
    spec = roofline_spec(name)
    cost = MODELS_PARALLEL[name]
    model, gpu, tp = spec.model, spec.platform.gpu, spec.deployment.tp
    t = cost.fc_time_s(tokens, logits)
    flops_per_gpu = (tokens * _layer_flops_per_token(model) * model.num_layers
                     + logits * model.lm_head_flops_per_token) / tp
    # Caps respected: never faster than the capped peak, let alone the raw peak.
    assert t >= flops_per_gpu / (gpu.peak_flops * spec.gpu.compute_util) * (1 - 1e-12)
    # Every layer's weight shard is read at least once per iteration.
    layer_weight_bytes = model.num_layers * model.params_per_layer * model.dtype_bytes / tp
    assert t >= 0.99 * layer_weight_bytes / (gpu.hbm_bw_bytes_per_s * spec.gpu.mem_util)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(MODELS), st.integers(0, 20000), st.integers(1, 2000))
def test_fc_time_monotone_in_tokens(name, tokens, extra):
    cost = MODELS_PARALLEL[name]
    assert cost.fc_time_s(tokens + extra, 1) >= cost.fc_time_s(tokens, 1)
    assert cost.fc_time_s(tokens, tokens + extra) >= cost.fc_time_s(tokens, tokens)


def test_zero_tokens_cost_nothing():
    cost = MODELS_PARALLEL["gpt-175b"]
    assert cost.fc_time_s(0, 0) == 0.0
    assert all(v == 0.0 for v in cost.fc_breakdown_s(0, 0).values())
    assert cost.fc_breakdown_s(0, 5)["lm_head"] > 0 and cost.fc_breakdown_s(0, 5)["ffn"] == 0


def test_breakdown_sums_to_total_and_broadcasts():
    cost = MODELS_PARALLEL["qwen-72b"]
    tokens = np.array([[1, 64, 512], [2048, 4096, 8192]])
    parts = cost.fc_breakdown_s(tokens, 7)
    assert set(parts) == set(BREAKDOWN_KEYS)
    total = cost.fc_time_s(tokens, 7)
    assert total.shape == tokens.shape
    np.testing.assert_allclose(sum(parts.values()), total, rtol=1e-12)
    scalar = [cost.fc_time_s(int(n), 7) for n in tokens.ravel()]
    np.testing.assert_allclose(scalar, total.ravel(), rtol=1e-12)


def test_gpt175b_large_batch_is_compute_bound_by_hand():
    # GPT-3: 12 h^2 multiply-adds per token per layer (QKV 3h^2, out h^2, FFN 8h^2) -> 24 h^2 FLOPs.
    spec = roofline_spec("gpt-175b")
    cost = MODELS_PARALLEL["gpt-175b"]
    n, h = 8192, 12288
    expected = n * 24 * h * h * 96 / 8 / (312e12 * 0.8)
    parts = cost.fc_breakdown_s(n, 0)
    fc = parts["qkv_proj"] + parts["out_proj"] + parts["ffn"]
    # The FFN activation kernel (memory-bound, n x 4h/8 x 2 in + out) is the only non-GEMM part.
    act = 96 * n * (2 * 4 * h / 8) * 2 / (2.039e12 * 0.85)
    assert fc == pytest.approx(expected + act, rel=1e-3)
    assert spec.deployment.tp == 8


def test_gpt175b_single_token_is_weight_bound_by_hand():
    # Decode of one token: every layer's weights (12 h^2 x 2 bytes, biases negligible) read once per GPU.
    cost = MODELS_PARALLEL["gpt-175b"]
    h = 12288
    parts = cost.fc_breakdown_s(1, 0)
    fc = parts["qkv_proj"] + parts["out_proj"] + parts["ffn"]
    assert fc == pytest.approx(96 * 12 * h * h * 2 / 8 / (2.039e12 * 0.85), rel=2e-3)


@pytest.mark.parametrize("tokens", [4096, 16384])
def test_tp_halves_compute_bound_layers(tokens):
    one = GPUCostModel(roofline_spec("llama-2-70b", parallel={"tp": 1, "dp": 1})).fc_breakdown_s(tokens, 0)
    two = GPUCostModel(roofline_spec("llama-2-70b", parallel={"tp": 2, "dp": 1})).fc_breakdown_s(tokens, 0)
    for key in ("qkv_proj", "out_proj"):
        # Activations in are replicated, so the halving is exact only for FLOPs: compute-bound here.
        assert two[key] == pytest.approx(one[key] / 2, rel=1e-9)
    assert one["all_reduce"] == 0 and two["all_reduce"] > 0


def test_utilisation_caps_scale_compute_bound_time():
    base = GPUCostModel(roofline_spec("gpt-175b")).fc_breakdown_s(16384, 0)["qkv_proj"]
    half = GPUCostModel(roofline_spec("gpt-175b", ["gpu.compute_util=0.4"])).fc_breakdown_s(16384, 0)["qkv_proj"]
    assert half == pytest.approx(2 * base, rel=1e-9)
    slow_mem = GPUCostModel(roofline_spec("gpt-175b", ["gpu.mem_util=0.425"])).fc_breakdown_s(1, 0)["qkv_proj"]
    assert slow_mem == pytest.approx(2 * GPUCostModel(roofline_spec("gpt-175b")).fc_breakdown_s(1, 0)["qkv_proj"], rel=1e-9)
