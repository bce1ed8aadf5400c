"""GPU attention times: decode = KV bytes / usable HBM bandwidth; prefill = roofline of causal attention."""

from __future__ import annotations

import numpy as np
import pytest
from gpu_csv_helpers import roofline_spec
from hypothesis import given, settings
from hypothesis import strategies as st

from l3sim.hw.gpu import GPUCostModel

GPT = GPUCostModel(roofline_spec("gpt-175b"))
QWEN = GPUCostModel(roofline_spec("qwen-72b"))


def test_decode_by_hand_gpt175b():
    # MHA: K and V of 96 heads x 128 x 2 bytes x 96 layers = 4.72 MB per token, read by 8 GPUs at 0.85 x 2.039 TB/s.
    per_token = 2 * 96 * 128 * 2 * 96
    assert GPT.decode_attention_time_s(1_000_000) == pytest.approx(1e6 * per_token / (8 * 2.039e12 * 0.85), rel=1e-12)


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 10**7), st.integers(0, 10**7))
def test_decode_is_linear(a, b):
    assert QWEN.decode_attention_time_s(a + b) == pytest.approx(
        QWEN.decode_attention_time_s(a) + QWEN.decode_attention_time_s(b), rel=1e-12, abs=1e-15)


def _pairs_brute_force(chunk: int, done: int) -> int:
    return sum(done + i + 1 for i in range(chunk))


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 4096), st.integers(0, 32768))
def test_prefill_bounded_below_by_flops_and_kv_bytes(chunk, done):
    spec = roofline_spec("gpt-175b")
    m, gpu = spec.model, spec.platform.gpu
    t = GPT.prefill_attention_time_s(chunk, done)
    flops = 4 * m.q_size * _pairs_brute_force(chunk, done) * m.num_layers / 8
    kv_read = (done + chunk) * m.kv_bytes_per_token / 8
    assert t >= flops / (gpu.peak_flops * 0.8) * (1 - 1e-12)
    assert t >= kv_read / (gpu.hbm_bw_bytes_per_s * 0.85) * (1 - 1e-12)


def test_prefill_long_chunk_is_compute_bound_by_hand():
    spec = roofline_spec("gpt-175b")
    m = spec.model
    chunk, done = 4096, 8192
    flops = 4 * m.q_size * _pairs_brute_force(chunk, done) * m.num_layers / 8
    assert GPT.prefill_attention_time_s(chunk, done) == pytest.approx(flops / (312e12 * 0.8), rel=1e-12)


def test_prefill_elementwise_monotone_and_zero():
    chunks = np.array([0, 1, 16, 512, 512, 2048])
    done = np.array([100, 0, 0, 0, 4096, 4096])
    t = QWEN.prefill_attention_time_s(chunks, done)
    assert t.shape == chunks.shape and t[0] == 0.0
    assert np.all(np.diff(t[1:4]) > 0) and t[4] > t[3] and t[5] > t[4]
    np.testing.assert_allclose(t, [QWEN.prefill_attention_time_s(int(c), int(d)) for c, d in zip(chunks, done)])
