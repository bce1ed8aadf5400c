"""The AttAcc GPU model (hw/gpu/attacc.py) against numbers derived by hand from AttAcc's formulas.

Every configuration runs on the shipped A100-80GB preset: 312 TFLOP/s dense
FP16, 2.039 TB/s HBM, NVLink 600 GB/s; AttAcc's caps 0.8 (compute) and 0.85
(memory) and its A100 numbers 108 SMs, 192 KiB L1 per SM, 40 MiB L2
(scale-snu/attacc_simulator src/config.py). FP16 (2 bytes).

A GEMM (m x k) x (k x n) repeated numOp times takes max(2 m n k numOp / (F u),
bytes / (B u)), F = 312e12 x 0.8, B = 2.039e12 x 0.85, u the occupancy of its
thread blocks on 108 SMs. The tiles quoted in the comments are those AttAcc's
search (src/devices.py, xPU._get_optimal_tile) picks: the L1 tile (tm, tn)
among the edges {8, ..., 512} with the lowest L2 traffic / u^2, then the L2
tile with the lowest off-chip traffic that fits 40 MiB; with the whole (m, n)
as L2 tile the off-chip bytes are A + B + C once each.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l3sim.errors import ConfigError
from l3sim.hw.gpu.attacc import LAYER_OP_KEYS, AttAccDevice, AttAccGPUModel, all_reduce_time_s
from l3sim.spec import ModelSpec, load_preset_data
from l3sim.spec.platform import GPUSpec

F = 312e12 * 0.8  # FLOP/s at AttAcc's compute cap
B = 2.039e12 * 0.85  # bytes/s at AttAcc's memory cap
SMS = 108
ELEMENTWISE_SCALE = 1555e9 / 2.039e12  # AttAcc's norm/activation fits were made at 1555 GB/s


def _model(name: str) -> ModelSpec:
    data, source = load_preset_data("models", name)
    return ModelSpec.parse(data, source)


A100 = GPUSpec.parse(load_preset_data("gpus", "a100-80gb")[0])
GPT = AttAccGPUModel(_model("gpt-175b"), A100, 8)
OPT = AttAccGPUModel(_model("opt-66b"), A100, 2)
QWEN = AttAccGPUModel(_model("qwen-72b"), A100, 4)


def bound(flops: float, nbytes: float, u: float) -> float:
    """AttAcc's time of a GEMM-like kernel: compute and memory both slowed by the occupancy u."""
    return max(flops / (F * u), nbytes / (B * u))


def norm(elements: int) -> float:
    """One layer norm: 5 FLOPs per element on ONE thread block (u = 1/108), or the fit on 3 x elements x 2 bytes."""
    return max(5 * elements / (F / SMS), (1.6e-6 * ELEMENTWISE_SCALE * 3 * elements * 2 + 6.87) * 1e-6)


def activation(flops_per_element: int, tensors: int, elements: int) -> float:
    """The FFN activation: FLOPs on one thread block, or the fit on tensors x elements x 2 bytes."""
    return max(flops_per_element * elements / (F / SMS),
               (4.47e-7 * ELEMENTWISE_SCALE * tensors * elements * 2 + 8.29) * 1e-6)


# ---- GPT-175B, TP8, decode of a batch of 64 requests with 2048 tokens of context each --------------------------
# h = 12288, 96 heads of 128 (12 per GPU), FFN 49152 (6144 per GPU), GELU, 96 layers; 64 rows per FC.

def test_gpt175b_tp8_decode_batch64_layer_ops():
    t = GPT.layer_op_times_s(64)
    assert set(t) == set(LAYER_OP_KEYS)
    # qkv: m 64, n 3 x 12288 / 8 = 4608, k 12288. L1 tile (64, 64): 1 x 72 = 72 blocks, u = 72/108.
    # Bytes: (64 x 12288 + 4608 x 12288 + 64 x 4608) x 2 = 115,408,896; memory-bound.
    assert t["qkv_proj"] == pytest.approx(bound(7_247_757_312, 115_408_896, 72 / 108), rel=1e-12)
    assert t["qkv_proj"] == pytest.approx(115_408_896 / (B * 72 / 108), rel=1e-12)
    # out_proj: m 64, n 12288, k 1536. L1 (64, 128): 96 blocks. (64 x 1536 + 12288 x 1536 + 64 x 12288) x 2 bytes.
    assert t["out_proj"] == pytest.approx(bound(2_415_919_104, 39_518_208, 96 / 108), rel=1e-12)
    # ff1: m 64, n 6144, k 12288, L1 (64, 64), 96 blocks; ff2: m 64, n 12288, k 6144, L1 (64, 128), 96 blocks.
    # Both: 2 x 64 x 6144 x 12288 FLOPs, (64 x 12288 + 6144 x 12288 + 64 x 6144) x 2 bytes.
    ffn = 2 * bound(9_663_676_416, 153_354_240, 96 / 108)
    assert t["ffn"] == pytest.approx(ffn, rel=1e-12)
    # norm1 + norm2 over 64 x 12288 elements: fitted memory time 5.76 + 6.87 us each.
    assert t["norm"] == pytest.approx(2 * norm(786_432), rel=1e-12)
    assert t["norm"] == pytest.approx(2 * (1.6e-6 * ELEMENTWISE_SCALE * 4_718_592 + 6.87) * 1e-6, rel=1e-12)
    # GELU (8 FLOPs per element) over 64 x 6144 elements, 2 tensors.
    assert t["activation"] == pytest.approx(activation(8, 2, 393_216), rel=1e-12)


def test_gpt175b_tp8_all_reduce_by_hand():
    # 64 x 12288 x 2 = 1,572,864 bytes: 7 steps of 196,608 bytes, each 6060 ns + 0.009 ns/B x 196,608 (600 GB/s link).
    assert GPT.all_reduce_time_s(64) == pytest.approx(7 * (6060 + 0.009 * 196_608) * 1e-9, rel=1e-12)
    assert GPT.all_reduces_per_layer == 2


def test_gpt175b_tp8_decode_attention_batch64_by_hand():
    # numOp = 12 heads x 64 requests = 768 problems -> 768 blocks on 108 SMs: u = 768 / 864.
    u = 768 / 864
    # score: m 1, n 2048, k 128; L1 (1, 512), L2 (1, 2048): (128 + 2048 x 128 + 2048) x 2 x 768 bytes.
    score = bound(2 * 2048 * 128 * 768, (128 + 262_144 + 2048) * 2 * 768, u)
    # softmax over 2048 x 768 elements: 5 FLOPs each, read + write 2 bytes each.
    softmax = bound(5 * 1_572_864, 2 * 1_572_864 * 2, u)
    # context: m 1, n 128, k 2048; L1 = L2 = (1, 128): (2048 + 128 x 2048 + 128) x 2 x 768 bytes.
    context = bound(2 * 128 * 2048 * 768, (2048 + 262_144 + 128) * 2 * 768, u)
    assert score == pytest.approx(405_995_520 / (B * u), rel=1e-12)
    assert GPT.decode_attention_time_s(64 * 2048, 64) == pytest.approx(96 * (score + softmax + context), rel=1e-12)


# ---- OPT-66B, TP2, prefill of one 512-token prompt -----------------------------------------------------------------
# h = 9216, 72 heads of 128 (36 per GPU), FFN 36864 (18432 per GPU), ReLU, 64 layers; 512 rows per FC.

def test_opt66b_tp2_prefill512_layer_ops():
    t = OPT.layer_op_times_s(512)
    # qkv: m 512, n 13824, k 9216. L1 (256, 256): 2 x 54 = 108 blocks, u = 1. Compute-bound.
    # Bytes (512 x 9216 + 13824 x 9216 + 512 x 13824) x 2 = 278,396,928; FLOPs 2 x 512 x 13824 x 9216.
    assert t["qkv_proj"] == pytest.approx(bound(130_459_631_616, 278_396_928, 1.0), rel=1e-12)
    assert t["qkv_proj"] == pytest.approx(130_459_631_616 / F, rel=1e-12)
    # out_proj: m 512, n 9216, k 4608. L1 (192, 256): 3 x 36 = 108 blocks.
    assert t["out_proj"] == pytest.approx(bound(43_486_543_872, 99_090_432, 1.0), rel=1e-12)
    # ff1 (n 18432, k 9216; L1 (192, 256), 3 x 72 = 216 blocks) and ff2 (n 9216, k 18432; 108 blocks): u = 1.
    # Each 2 x 512 x 18432 x 9216 FLOPs; (512 x 9216 + 18432 x 9216 + 512 x 18432) x 2 bytes.
    assert t["ffn"] == pytest.approx(2 * bound(173_946_175_488, 368_050_176, 1.0), rel=1e-12)
    assert t["norm"] == pytest.approx(2 * norm(512 * 9216), rel=1e-12)
    # ReLU: 1 FLOP per element over 512 x 18432 elements, 2 tensors.
    assert t["activation"] == pytest.approx(activation(1, 2, 9_437_184), rel=1e-12)


def test_opt66b_tp2_all_reduce_by_hand():
    # 512 x 9216 x 2 = 9,437,184 bytes: 1 step of 4,718,592 bytes.
    assert OPT.all_reduce_time_s(512) == pytest.approx((6060 + 0.009 * 4_718_592) * 1e-9, rel=1e-12)


def test_opt66b_tp2_prefill_attention_by_hand():
    # One request: numOp = 36 heads -> 36 blocks on 108 SMs, u = 1/3. Full 512 x 512 square (no causal saving).
    u = 36 / 108
    # score: m 512, n 512, k 128; L1 (256, 256), L2 (512, 512): (512 x 128 + 512 x 128 + 512 x 512) x 2 x 36 bytes.
    score = bound(2 * 512 * 512 * 128 * 36, 393_216 * 2 * 36, u)
    softmax = bound(5 * 9_437_184, 2 * 9_437_184 * 2, u)  # 512 x 512 x 36 elements
    # context: m 512, n 128, k 512; L1 = L2 = (512, 128): (512 x 512 + 128 x 512 + 512 x 128) x 2 x 36 bytes.
    context = bound(2 * 512 * 128 * 512 * 36, 393_216 * 2 * 36, u)
    assert OPT.prefill_attention_time_s(512, 0) == pytest.approx(64 * (score + softmax + context), rel=1e-12)
    # Three such prompts batched as AttAcc's summarisation stage batches them: 108 blocks, u = 1, same traffic x 3.
    batched = 64 * 3 * (bound(2 * 512 * 512 * 128 * 36, 393_216 * 2 * 36, 1.0)
                        + bound(5 * 9_437_184, 2 * 9_437_184 * 2, 1.0)
                        + bound(2 * 512 * 128 * 512 * 36, 393_216 * 2 * 36, 1.0))
    assert OPT.prefill_attention_time_s(512, 0, 3) == pytest.approx(batched, rel=1e-12)


# ---- QWEN-72B (GQA-8), TP4, decode of a batch of 32 requests with 4096 tokens of context each --------------------
# h = 8192, 64 query heads and 8 KV heads of 128 (16 and 2 per GPU), gated FFN 24576 (6144 per GPU), 80 layers.

def test_qwen72b_tp4_decode_batch32_layer_ops():
    t = QWEN.layer_op_times_s(32)
    # qkv: m 32, n (8192 + 2 x 1024) / 4 = 2560, k 8192. L1 (32, 32): 80 blocks, u = 80/108.
    # (32 x 8192 + 2560 x 8192 + 32 x 2560) x 2 bytes.
    assert t["qkv_proj"] == pytest.approx(bound(2 * 32 * 2560 * 8192, 42_631_168, 80 / 108), rel=1e-12)
    # out_proj: m 32, n 8192, k 2048. L1 (32, 32): 256 blocks -> 3 waves of 108, u = 256/324.
    assert t["out_proj"] == pytest.approx(bound(2 * 32 * 8192 * 2048, 34_209_792, 256 / 324), rel=1e-12)
    # gate and up (AttAcc's ff1, ff2): m 32, n 6144, k 8192; L1 (32, 64): 96 blocks.
    # down (ff3): m 32, n 8192, k 6144; L1 (32, 32): 256 blocks, u = 256/324. All: (32 x 8192 + 6144 x 8192
    # + 32 x 6144) x 2 = 101,580,800 bytes, 2 x 32 x 6144 x 8192 FLOPs.
    ffn = 2 * bound(3_221_225_472, 101_580_800, 96 / 108) + bound(3_221_225_472, 101_580_800, 256 / 324)
    assert t["ffn"] == pytest.approx(ffn, rel=1e-12)
    assert t["norm"] == pytest.approx(2 * norm(32 * 8192), rel=1e-12)
    # GLU: 8 + 1 FLOPs per element, reads gate and up and writes one: 3 tensors of 32 x 6144.
    assert t["activation"] == pytest.approx(activation(9, 3, 196_608), rel=1e-12)


def test_qwen72b_tp4_all_reduce_by_hand():
    # 32 x 8192 x 2 = 524,288 bytes: 3 steps of 131,072 bytes.
    assert QWEN.all_reduce_time_s(32) == pytest.approx(3 * (6060 + 0.009 * 131_072) * 1e-9, rel=1e-12)


def test_qwen72b_tp4_decode_attention_gqa_by_hand():
    # One problem per KV head and request: numOp = 2 x 32 = 64 blocks, u = 64/108; its rows the 8 query heads.
    u = 64 / 108
    # score: m 8, n 4096, k 128; L1 (8, 512), L2 (8, 4096): (8 x 128 + 4096 x 128 + 8 x 4096) x 2 x 64 bytes.
    score = bound(2 * 8 * 4096 * 128 * 64, 558_080 * 2 * 64, u)
    softmax = bound(5 * 2_097_152, 2 * 2_097_152 * 2, u)  # 8 x 4096 x 64 elements
    # context: m 8, n 128, k 4096; L1 = L2 = (8, 128): (8 x 4096 + 128 x 4096 + 8 x 128) x 2 x 64 bytes.
    context = bound(2 * 8 * 128 * 4096 * 64, 558_080 * 2 * 64, u)
    assert QWEN.decode_attention_time_s(32 * 4096, 32) == pytest.approx(80 * (score + softmax + context), rel=1e-12)


# ---- AttAcc's quirks and the invariants ------------------------------------------------------------------------------

def test_large_activation_is_compute_bound_on_one_thread_block():
    # GPT-175B TP8, 2048 tokens: GELU 8 x 2048 x 6144 FLOPs at 249.6 TFLOP/s / 108 = 43.6 us, above the
    # fitted memory time (4.47e-7 x 0.763 x 50,331,648 + 8.29) us = 25.4 us.
    expected = 8 * 12_582_912 / (F / SMS)
    assert GPT.layer_op_times_s(2048)["activation"] == pytest.approx(expected, rel=1e-12)
    assert expected > (4.47e-7 * ELEMENTWISE_SCALE * 50_331_648 + 8.29) * 1e-6


def test_decode_attention_depends_on_requests_through_occupancy():
    # Same total context at GPT TP8 (12 heads per GPU): 9 requests are 108 blocks, one full wave (u = 1);
    # 10 requests are 120 blocks, two waves (u = 120/216), for about the same bytes.
    nine = GPT.decode_attention_time_s(9 * 1000, 9)
    ten = GPT.decode_attention_time_s(10 * 900, 10)
    assert ten > 1.5 * nine


def test_zero_work_costs_zero():
    for model in (GPT, OPT, QWEN):
        assert all(v == 0.0 for v in model.layer_op_times_s(0).values())
        assert model.all_reduce_time_s(0) == 0.0
        assert model.lm_head_time_s(0) == 0.0
        assert model.prefill_attention_time_s(0, 4096) == 0.0
        assert model.decode_attention_time_s(0, 0) == 0.0
        assert model.decode_attention_time_s(0, 8) == 0.0


def test_all_reduce_zero_for_tp1():
    single = AttAccGPUModel(_model("llama-2-7b"), A100, 1)
    assert single.all_reduce_time_s(4096) == 0.0
    assert np.all(single.all_reduce_time_s(np.array([0, 1, 4096])) == 0.0)


def test_elementwise_arrays_match_scalars():
    tokens = np.array([[1, 64], [512, 3000]])
    table = GPT.layer_op_times_s(tokens)
    for key in LAYER_OP_KEYS:
        assert table[key].shape == (2, 2)
        assert table[key][1, 0] == GPT.layer_op_times_s(512)[key]
    chunks, done = np.array([128, 512]), np.array([0, 1024])
    assert GPT.prefill_attention_time_s(chunks, done)[1] == GPT.prefill_attention_time_s(512, 1024)
    assert QWEN.decode_attention_time_s(np.array([4096, 8192]), 2)[1] == QWEN.decode_attention_time_s(8192, 2)


def test_fc_time_is_not_monotone_in_tokens():
    # AttAcc's tile search trades traffic for occupancy, so an FC can get faster with one more row. GPT-175B TP8
    # qkv at 65 rows: L1 tile (32, 128) gives 3 x 36 = 108 blocks, one full wave (u = 1), against 72 blocks
    # (u = 2/3) at 64 rows. Bytes (65 x 12288 + 4608 x 12288 + 65 x 4608) x 2 = 115,442,688.
    at_65 = GPT.layer_op_times_s(65)["qkv_proj"]
    assert at_65 == pytest.approx(bound(2 * 65 * 4608 * 12288, 115_442_688, 1.0), rel=1e-12)
    assert at_65 < 0.7 * GPT.layer_op_times_s(64)["qkv_proj"]


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 4096), st.integers(1, 512))
def test_monotone_parts_and_fc_lower_bound(tokens, extra):
    # Norms, activation and all-reduce grow with tokens; every FC is at least its roofline at full occupancy
    # (FLOPs / F, weights once / B), since u <= 1. GPT-175B TP8: weights of qkv 4608 x 12288 x 2 bytes.
    for model in (GPT, OPT, QWEN):
        small, large = model.layer_op_times_s(tokens), model.layer_op_times_s(tokens + extra)
        assert large["norm"] > small["norm"]
        assert large["activation"] >= small["activation"]
        assert model.all_reduce_time_s(tokens + extra) > model.all_reduce_time_s(tokens)
    qkv = GPT.layer_op_times_s(tokens)["qkv_proj"]
    assert qkv >= max(2 * tokens * 4608 * 12288 / F, 4608 * 12288 * 2 / B) * (1 - 1e-12)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 2048), st.integers(0, 8192), st.integers(1, 2048))
def test_attention_monotone_in_context(chunk, done, extra):
    assert OPT.prefill_attention_time_s(chunk, done + extra) >= OPT.prefill_attention_time_s(chunk, done)
    assert QWEN.decode_attention_time_s(done + extra + 16, 16) >= QWEN.decode_attention_time_s(done + 16, 16)


def test_bad_inputs():
    with pytest.raises(ConfigError, match="must divide"):
        AttAccGPUModel(_model("qwen-72b"), A100, 16)
    with pytest.raises(ConfigError, match="AttAccDevice"):
        AttAccGPUModel(_model("gpt-175b"), A100.model_copy(update={"name": "mystery-gpu"}), 8)
    custom = AttAccGPUModel(_model("gpt-175b"), A100.model_copy(update={"name": "mystery-gpu"}), 8,
                            device=AttAccDevice(num_cores=108, l1_bytes_per_core=192 * 1024, l2_bytes=40 * 1024**2))
    assert custom.layer_op_times_s(64)["qkv_proj"] == GPT.layer_op_times_s(64)["qkv_proj"]
    with pytest.raises(ValueError, match="non-negative"):
        GPT.layer_op_times_s(-1)
    with pytest.raises(ValueError, match="at least one request"):
        GPT.decode_attention_time_s(4096, 0)


# ---- gpu.cost_source = "attacc": the model behind GPUCostModel -------------------------------------------------------

def _attacc_cost(model: str = "gpt-175b"):
    from l3sim.hw.gpu import GPUCostModel
    from l3sim.spec.run import build_run_spec

    spec = build_run_spec(["gpu.cost_source=attacc"], platform="dgx-a100", model=model, workload="openr1")
    return GPUCostModel(spec)


def test_cost_source_attacc_sums_the_hand_derived_layer():
    """One decode iteration of 64 rows: 96 layers of the hand-derived operators, two all-reduces per layer."""
    parts = _attacc_cost().fc_breakdown_s(64, 64)
    layer = GPT.layer_op_times_s(64)
    assert parts["qkv_proj"] == pytest.approx(96 * bound(7_247_757_312, 115_408_896, 72 / 108), rel=1e-12)
    assert parts["ffn"] == pytest.approx(96 * (layer["ffn"] + layer["activation"]), rel=1e-12)
    assert parts["other"] == pytest.approx(96 * 2 * norm(786_432), rel=1e-12)
    assert parts["all_reduce"] == pytest.approx(96 * 2 * 7 * (6060 + 0.009 * 196_608) * 1e-9, rel=1e-12)


def test_cost_source_attacc_decode_attention_with_and_without_the_batch():
    cost = _attacc_cost()
    # With the batch: AttAcc's occupancy of 12 x 64 problems (the hand-derived case above).
    assert cost.decode_attention_time_s(64 * 2048, 64) == pytest.approx(
        GPT.decode_attention_time_s(64 * 2048, 64), rel=1e-12)
    # Without it: 108 requests' worth of problems fill whole waves, and the time is affine in the total.
    t = [cost.decode_attention_time_s(x) for x in (108 * 1000, 108 * 2000, 108 * 3000)]
    assert t[2] - t[1] == pytest.approx(t[1] - t[0], rel=1e-9)
    assert cost.decode_attention_time_s(108 * 2048) <= cost.decode_attention_time_s(64 * 2048, 64) * 108 / 64


def test_scalar_and_array_inputs_give_the_same_times():
    """One value per input (the engine's calls, answered without arrays) and the same values as arrays agree
    exactly; no work costs 0 either way, and a negative count is refused either way."""
    for tokens in (0, 1, 64, 65, 4096):
        scalar, array = GPT.layer_op_times_s(tokens), GPT.layer_op_times_s(np.array([tokens, tokens]))
        assert all(scalar[key] == array[key][0] == array[key][1] for key in LAYER_OP_KEYS)
        assert isinstance(scalar["ffn"], float) and (scalar["ffn"] == 0.0) == (tokens == 0)
    for total, requests in ((0, 1), (4096, 1), (100001, 7), (250000.5, 64)):
        scalar = QWEN.decode_attention_time_s(total, requests)
        assert scalar == QWEN.decode_attention_time_s(np.array([total]), np.array([requests]))[0]
        assert isinstance(scalar, float)
    assert GPT.prefill_attention_time_s(128, 1000) == GPT.prefill_attention_time_s(np.array([128]), 1000)[0]
    with pytest.raises(ValueError, match="non-negative"):
        GPT.layer_op_times_s(np.array([4, -1]))
    with pytest.raises(ValueError, match="non-negative"):
        QWEN.decode_attention_time_s(-1.0, 2)


def test_attacc_all_reduce_of_one_byte_by_hand():
    """AttAcc's NVLink line on A100 NVLink (600 GB/s): one byte over TP2 is one step of half a byte, 6,060 +
    0.009 x 0.5 ns (the transfer at half the bandwidth, 0.5 / 300e9 s, is far below it); a float for a scalar."""
    one = all_reduce_time_s(1, 2, 600e9)
    assert isinstance(one, float) and one == pytest.approx((6060 + 0.009 * 0.5) * 1e-9, rel=1e-12)
    assert all_reduce_time_s(0, 2, 600e9) == 0.0 and all_reduce_time_s(1e6, 1, 600e9) == 0.0
    tp1 = all_reduce_time_s(np.array([1e3, 1e6]), 1, 600e9)  # TP1: no call, an array of zeros for an array
    assert tp1.shape == (2,) and not tp1.any()


def test_counts_refused_with_the_whole_message_and_numpy_scalars_give_floats():
    for bad in (-1, np.array([4, -1])):
        with pytest.raises(ValueError) as error:
            GPT.layer_op_times_s(bad)
        assert str(error.value) == "token and request counts must be non-negative"
    assert isinstance(GPT.layer_op_times_s(np.int64(64))["ffn"], float)
    assert GPT.layer_op_times_s(np.int64(64))["ffn"] == GPT.layer_op_times_s(64)["ffn"]
