"""The calibrated GPU cost source: hand-derived tile/wave/split-K and elementwise times, bounds, monotonicity."""

from __future__ import annotations

import math

import numpy as np
import pytest
from gpu_csv_helpers import roofline_spec, run_spec
from hypothesis import given, settings
from hypothesis import strategies as st

from l3sim.errors import ConfigError
from l3sim.hw.gpu import GPUCostModel
from l3sim.hw.gpu.calibrated import CalibratedOperators, gemm_compute_time_s
from l3sim.hw.gpu.operators import layer_operators, other_operators
from l3sim.spec.gpu_calibration import GPUCalibrationSpec
from l3sim.spec.run import build_run_spec

MODELS = ["gpt-175b", "qwen-72b", "opt-66b", "llama-2-70b", "llama-3-8b"]
CALIBRATED = {m: GPUCostModel(run_spec(m)) for m in MODELS}
# The nominal roofline: datasheet peaks, no caps (compute_util = mem_util = 1).
NOMINAL = {m: GPUCostModel(roofline_spec(m, ["gpu.compute_util=1.0", "gpu.mem_util=1.0"])) for m in MODELS}
A100 = run_spec().platform.gpu  # 108 SMs, 312 TFLOP/s, 2.039 TB/s
PLAIN = GPUCalibrationSpec(tensor_efficiency=0.5, small_tile_efficiency=1.0)


def test_calibrated_is_the_default_source():
    assert run_spec().gpu.cost_source == "calibrated"


def test_wave_quantisation_by_hand():
    # M=256 tokens, N=57344 (Llama-2-70B gate+up at TP1), K=8192, 108 SMs, all tile shapes equally efficient:
    # 128x128: 2 x 448 = 896 tiles -> 9 waves of 2*128*128*8192 FLOPs; 64-wide tiles: 1792 tiles -> 17 waves
    # of half that work = 8.5 full-tile waves; 64x64: 3584 tiles -> 34 waves of a quarter = 8.5. Best: 8.5.
    per_sm = 312e12 / 108 * 0.5
    expected = 8.5 * 2 * 128 * 128 * 8192 / per_sm
    assert gemm_compute_time_s(256, 57344, 8192, A100, PLAIN) == pytest.approx(expected, rel=1e-12)


def test_split_k_by_hand():
    # M=1, N=1280 (Llama-2-70B QKV at TP8), K=8192. 64x64 tiles: 20 tiles, split K 5 ways (floor(108/20)),
    # ceil(8192/5)=1639 deep, one wave: 2*64*64*1639 = 13,426,688 FLOPs per SM; 64x128: 10 tiles x 10 splits
    # of 820 -> 13,434,880; 128-row tiles do twice that. The fastest is 64x64.
    per_sm = 312e12 / 108 * 0.5
    assert gemm_compute_time_s(1, 1280, 8192, A100, PLAIN) == pytest.approx(13_426_688 / per_sm, rel=1e-12)


@pytest.mark.parametrize(
    ("k", "flops_per_sm"),
    [
        # K=4096: one 64x64 tile could take 108 splits, but slices stay >= 256 deep: 16 splits of 256.
        (4096, 2 * 64 * 64 * 256),
        # K=65536: up to 256 splits allowed; the one tile takes all 108 SMs: ceil(65536/108) = 607 deep.
        (65536, 2 * 64 * 64 * 607),
        # K=384: floor(384/256) = 1, so no split at all: one slice 384 deep.
        (384, 2 * 64 * 64 * 384),
    ],
)
def test_split_k_limits_by_hand(k, flops_per_sm):
    # M=1, N=64: one 64x64 tile (the other shapes do 2-4x its work with the same splits), one wave.
    per_sm = 312e12 / 108 * 0.5
    assert gemm_compute_time_s(1, 64, k, A100, PLAIN) == pytest.approx(flops_per_sm / per_sm, rel=1e-12)


def test_small_tiles_pay_their_efficiency():
    # Same M=1 GEMM with 64-wide tiles at 0.4 relative efficiency: 64x64 costs 13,426,688 / 0.4 = 33.6 M
    # FLOP-equivalents, the 128x128 tile (10 tiles x 10 splits of 820) 2*128*128*820 = 26,869,760: best.
    calibration = GPUCalibrationSpec(tensor_efficiency=0.5, small_tile_efficiency=0.4)
    per_sm = 312e12 / 108 * 0.5
    assert gemm_compute_time_s(1, 1280, 8192, A100, calibration) == pytest.approx(26_869_760 / per_sm, rel=1e-12)


def test_gemm_and_activation_kernel_by_hand():
    # Llama-2-70B at TP8, one token. The FFN activation: reads gate+up (2 x 3584) and writes 3584 values, 2 bytes
    # each = 21,504 B; one block (one row) streams it at 7 B per cycle of the A100's 1.41 GHz, one wave.
    cal = GPUCalibrationSpec(elementwise_overhead_s=2e-6, row_bytes_per_cycle=7.0, row_latency_cycles=1000.0,
                             kernel_overhead_s=5e-6, hbm_efficiency=0.8, overlap_exponent=2.0,
                             tensor_efficiency=0.5, small_tile_efficiency=1.0)
    model = run_spec("llama-2-70b").model
    ops = layer_operators(model, 8)
    times = CalibratedOperators(ops, A100, cal).times_s(1)
    act = 2e-6 + 21_504 / (7.0 * 1.41e9)
    assert times[[op.name for op in ops].index("ffn_act")] == pytest.approx(act, rel=1e-12)
    # QKV: weights 8192 x 1280 x 2 B plus one row in (8192) and out (1280); compute from the split-K test.
    memory = (8192 * 1280 + 8192 + 1280) * 2 / (2.039e12 * 0.8)
    compute = 13_426_688 / (312e12 / 108 * 0.5)
    qkv = 5e-6 + math.sqrt(memory**2 + compute**2)
    assert times[0] == pytest.approx(qkv, rel=1e-12)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(MODELS), st.integers(0, 40000), st.integers(1, 3000), st.integers(0, 600))
def test_monotone_in_tokens(name, tokens, extra, logits):
    cost = CALIBRATED[name]
    assert cost.fc_time_s(tokens + extra, logits) >= cost.fc_time_s(tokens, logits)
    assert cost.fc_time_s(tokens, logits + extra) >= cost.fc_time_s(tokens, logits)
    parts, more = cost.fc_breakdown_s(tokens, logits), cost.fc_breakdown_s(tokens + extra, logits)
    assert all(more[k] >= parts[k] for k in parts)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(MODELS), st.integers(1, 40000), st.integers(0, 600))
def test_never_faster_than_the_nominal_roofline(name, tokens, logits):
    cost, nominal = CALIBRATED[name], NOMINAL[name]
    assert cost.fc_time_s(tokens, logits) >= nominal.fc_time_s(tokens, logits)
    ours, roof = cost.fc_breakdown_s(tokens, logits), nominal.fc_breakdown_s(tokens, logits)
    assert all(ours[k] >= roof[k] for k in roof)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(MODELS), st.integers(1, 8192), st.integers(0, 65536), st.integers(1, 512))
def test_attention_never_faster_than_the_nominal_roofline(name, chunk, done, requests):
    cost, nominal = CALIBRATED[name], NOMINAL[name]
    assert cost.prefill_attention_time_s(chunk, done) >= nominal.prefill_attention_time_s(chunk, done)
    total = requests * (done + 1)
    assert cost.decode_attention_time_s(total) >= nominal.decode_attention_time_s(total)
    assert cost.decode_attention_time_s(total, requests) >= cost.decode_attention_time_s(total)


def test_decode_attention_by_hand():
    # GPT-175B TP8: 96 layers, KV 2 x 96 heads x 128 x 2 B per token per layer, 12 KV heads per GPU.
    spec = run_spec("gpt-175b")
    cal = spec.platform.gpu.calibration
    cost = GPUCostModel(spec)
    per_token = 2 * 96 * 128 * 2 * 96 / (8 * 2.039e12 * cal.hbm_efficiency)
    fixed = 96 * cal.kernel_overhead_s
    assert cost.decode_attention_time_s(0) == 0.0
    assert cost.decode_attention_time_s(1_000_000) == pytest.approx(1e6 * per_token + fixed, rel=1e-12)
    # Affine without the request count: the engine's sums stay exact.
    a, b = cost.decode_attention_time_s(300_000), cost.decode_attention_time_s(700_000)
    assert a + b == pytest.approx(cost.decode_attention_time_s(1_000_000) + fixed, rel=1e-12)
    # One request of 1000 tokens: 12 KV heads x ceil(1000/512) = 24 thread blocks of 108 SMs busy.
    one = cost.decode_attention_time_s(1000, 1)
    assert one == pytest.approx(1000 * per_token * 108 / 24 + fixed, rel=1e-12)
    # 64 requests fill the GPU (64 x 12 x 1 >= 108): no occupancy penalty.
    assert cost.decode_attention_time_s(64 * 500, 64) == pytest.approx(64 * 500 * per_token + fixed, rel=1e-12)
    np.testing.assert_allclose(cost.decode_attention_time_s(np.array([1000, 0]), np.array([1, 1])), [one, 0.0])


def test_other_kernels_are_charged_and_the_roofline_has_none():
    assert CALIBRATED["llama-2-70b"].fc_breakdown_s(100, 0)["other"] > 0
    assert NOMINAL["llama-2-70b"].fc_breakdown_s(100, 0)["other"] == 0
    assert CALIBRATED["llama-2-70b"].fc_breakdown_s(0, 0) == {k: 0.0 for k in CALIBRATED["llama-2-70b"].fc_breakdown_s(0, 0)}


def test_other_gpus_reuse_the_fitted_efficiencies_with_their_datasheet():
    spec = build_run_spec(None, platform="dgx-h100", model="llama-2-70b", workload="openr1")
    assert spec.platform.gpu.num_sms == 132
    assert spec.platform.gpu.calibration == A100.calibration
    assert GPUCostModel(spec).fc_time_s(4096, 0) < CALIBRATED["llama-2-70b"].fc_time_s(4096, 0)


def test_unknown_cost_source_lists_the_known_ones():
    from l3sim.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        run_spec("gpt-175b", ['gpu.cost_source="magic"'])
    message = str(info.value)
    assert "cost_source" in message and all(name in message for name in ("calibrated", "roofline", "profile"))


def test_scalar_lookup_table_equals_the_vectorised_model():
    ops = layer_operators(run_spec("llama-3-8b").model, 1)
    model = CalibratedOperators(ops, A100)
    counts = np.array([0, 1, 127, 128, 129, 4095, 4096, 9000, 65535, 65536, 100000], dtype=float)
    direct = model.times_s(counts)  # an array: computed, never looked up
    for i, n in enumerate(counts):
        np.testing.assert_array_equal(model.times_s(int(n)), direct[i])
    assert model.times_s(2.5).shape == (len(ops),)  # a fractional count is computed, not looked up


def test_activation_kernel_streams_at_the_hbm_rate_by_hand():
    # The same activation at 16,384 tokens: 16,384 x 21,504 B = 352,321,536 B over HBM at 2.039 TB/s x 0.5
    # (345.6 us) against 76 waves (108 SMs x 2 blocks) of one 21,504-B row at 70 B/cycle x 1.41 GHz (16.6 us)
    # and Little's law (16,384 x 14,336 B read x 100 cycles / (216 x 1,024 threads x 4 B in flight x 1.41 GHz):
    # 18.8 us): the HBM term binds.
    cal = GPUCalibrationSpec(elementwise_overhead_s=2e-6, hbm_efficiency=0.5, row_bytes_per_cycle=70.0,
                             row_latency_cycles=100.0)
    ops = layer_operators(run_spec("llama-2-70b").model, 8)
    act = CalibratedOperators(ops, A100, cal).times_s(16_384)[[op.name for op in ops].index("ffn_act")]
    assert act == pytest.approx(2e-6 + 16_384 * 21_504 / (2.039e12 * 0.5), rel=1e-12)


def test_activation_kernel_little_law_by_hand():
    # At 60,000 tokens with a 3,000-cycle loaded round trip: the 216 resident blocks x 1,024 threads each keep
    # two 2-byte loads in flight (884,736 B), so the 60,000 x 14,336 B of gate and up take
    # 60,000 x 14,336 x 3,000 / (884,736 x 1.41e9) = 2.069 ms; the HBM term is 1.266 ms, the row waves 0.85 ms.
    cal = GPUCalibrationSpec(elementwise_overhead_s=2e-6, hbm_efficiency=0.5, row_bytes_per_cycle=5.0,
                             row_latency_cycles=3000.0)
    ops = layer_operators(run_spec("llama-2-70b").model, 8)
    act = CalibratedOperators(ops, A100, cal).times_s(60_000)[[op.name for op in ops].index("ffn_act")]
    assert act == pytest.approx(2e-6 + 60_000 * 14_336 * 3000 / (884_736 * 1.41e9), rel=1e-12)


ROW_CAL = GPUCalibrationSpec(elementwise_overhead_s=1e-6, hbm_efficiency=0.5, row_bytes_per_cycle=5.0,
                             row_latency_cycles=100.0, flat_elementwise_efficiency=0.9)


def _other_time(model_name: str, tp: int, tokens: int, name: str, gpu=A100, cal=ROW_CAL) -> float:
    ops = other_operators(run_spec(model_name).model, tp)
    return float(CalibratedOperators(ops, gpu, cal).times_s(tokens)[[op.name for op in ops].index(name)])


def test_norm_is_a_two_pass_row_kernel_by_hand():
    # Llama-2-70B (h = 8192), one token: one 1,024-thread block reads its 16 KiB row twice, reads the weight
    # and writes the row (4 x 16,384 B = 65,536 B streamed at 5 B/cycle x 1.41 GHz: 9.296 us), while the HBM sees
    # the row in and out plus the weight (3 x 16,384 B: 0.05 us at 2.039 TB/s x 0.5): the row term binds.
    row = 65_536 / (5.0 * 1.41e9)
    assert _other_time("llama-2-70b", 8, 1, "input_norm") == pytest.approx(1e-6 + row, rel=1e-12)
    # A full wave is 216 rows (108 SMs x 2 resident 1,024-thread blocks): the HBM moves 216 x 32,768 + 16,384 B
    # in 6.958 us, Little's law allows 216 x 16,384 B read x 100 cycles / (216 x 1,024 x 2 B x 1.41 GHz) =
    # 0.57 us: still one row's 9.296 us; 217 rows are two waves.
    assert _other_time("llama-2-70b", 8, 216, "input_norm") == pytest.approx(1e-6 + row, rel=1e-12)
    assert _other_time("llama-2-70b", 8, 217, "post_norm") == pytest.approx(1e-6 + 2 * row, rel=1e-12)
    # The same row on an SM clocked at 1.98 GHz (the H100's boost) streams 1.98 / 1.41 times faster.
    fast_clock = A100.model_copy(update={"sm_clock_hz": 1.98e9})
    assert _other_time("llama-2-70b", 8, 1, "input_norm", fast_clock) == pytest.approx(1e-6 + 65_536 / (5.0 * 1.98e9),
                                                                                     rel=1e-12)
    # Little's law with one 2-byte load in flight per thread (pass one; pass two hits the cache) and a 3,000-cycle
    # loaded round trip: 60,000 rows read 60,000 x 16,384 B in 60,000 x 16,384 x 3,000 / (442,368 x 1.41e9) =
    # 4.73 ms, above the HBM's 1.93 ms and 278 row waves' 2.58 ms.
    loaded = ROW_CAL.model_copy(update={"row_latency_cycles": 3000.0})
    expected = 1e-6 + 60_000 * 16_384 * 3000 / (442_368 * 1.41e9)
    assert _other_time("llama-2-70b", 8, 60_000, "input_norm", cal=loaded) == pytest.approx(expected, rel=1e-12)


def test_a_1024_thread_block_leaves_a_1536_thread_sm_a_third_empty_by_hand():
    # On compute capability 8.6 (the A40: 1,536 threads per SM) one 1,024-thread norm block fits per SM, not
    # one and a half: 108 rows a wave with the A100's SM count, so 108 rows take one row time and 109 two.
    small_sm = A100.model_copy(update={"max_threads_per_sm": 1536})
    row = 65_536 / (5.0 * 1.41e9)
    assert _other_time("llama-2-70b", 8, 108, "input_norm", small_sm) == pytest.approx(1e-6 + row, rel=1e-12)
    assert _other_time("llama-2-70b", 8, 109, "input_norm", small_sm) == pytest.approx(1e-6 + 2 * row, rel=1e-12)


def _custom_op_time(model, tp: int, tokens: int, name: str, cal=ROW_CAL) -> float:
    ops = layer_operators(model, tp) + other_operators(model, tp)
    return float(CalibratedOperators(ops, A100, cal).times_s(tokens)[[op.name for op in ops].index(name)])


def test_small_blocks_count_whole_warps_and_the_block_limit_by_hand():
    slow_rows = ROW_CAL.model_copy(update={"row_bytes_per_cycle": 0.01})  # the row waves bind
    base = run_spec("llama-2-70b").model
    # A 100-thread block (an FFN of 800 over 8 GPUs) occupies 4 warps, 128 threads: 2048 / 128 = 16 blocks per
    # SM (not 20), 1,728 rows a wave on 108 SMs. Each row streams 3 x 100 x 2 B.
    narrow_ffn = base.model_copy(update={"ffn_hidden_size": 800})
    row = 600 / (0.01 * 1.41e9)
    assert _custom_op_time(narrow_ffn, 8, 1728, "ffn_act", slow_rows) == pytest.approx(1e-6 + row, rel=1e-12)
    assert _custom_op_time(narrow_ffn, 8, 1729, "ffn_act", slow_rows) == pytest.approx(1e-6 + 2 * row, rel=1e-12)
    # A 32-thread rotary block (one query head of 64 a GPU: 32 pairs) would fit 64 times in 2,048 threads, but an
    # SM holds at most 32 blocks: 3,456 rows a wave. Each row rotates 1 query and 1 KV head: 2 x 2 x 64 x 2 B.
    one_head = base.model_copy(update={"num_heads": 8, "num_kv_heads": 8, "head_dim": 64})
    row = 512 / (0.01 * 1.41e9)
    assert _custom_op_time(one_head, 8, 3456, "rotary", slow_rows) == pytest.approx(1e-6 + row, rel=1e-12)
    assert _custom_op_time(one_head, 8, 3457, "rotary", slow_rows) == pytest.approx(1e-6 + 2 * row, rel=1e-12)


def test_shapes_without_a_row_are_refused():
    base = run_spec("llama-2-70b").model
    with pytest.raises(ConfigError, match="exceeds ffn_hidden_size"):
        layer_operators(base.model_copy(update={"ffn_hidden_size": 4}), 8)
    with pytest.raises(ConfigError, match="head_dim >= 2"):
        other_operators(base.model_copy(update={"head_dim": 1}), 8)


def test_rotary_blocks_and_resident_threads_by_hand():
    # Llama-2-70B at TP8: 8 query heads x 64 rotated pairs = 512 threads a block (vLLM's cap), so 2,048 / 512 =
    # 4 blocks per A100 SM: 432 rows a wave. Each row rotates the GPU's 8 query and 1 KV heads of 128: read and
    # write (8 + 1) x 128 x 2 B twice = 4,608 B, 6.536 us at 0.5 B/cycle x 1.41 GHz (a wave's HBM traffic,
    # 432 x 4,608 B, takes 1.95 us at 2.039 TB/s x 0.5: the rows bind).
    slow_rows = ROW_CAL.model_copy(update={"row_bytes_per_cycle": 0.5})
    row = 4_608 / (0.5 * 1.41e9)
    assert _other_time("llama-2-70b", 8, 432, "rotary", cal=slow_rows) == pytest.approx(1e-6 + row, rel=1e-12)
    assert _other_time("llama-2-70b", 8, 433, "rotary", cal=slow_rows) == pytest.approx(1e-6 + 2 * row, rel=1e-12)
    # An SM of compute capability 8.6 (the A40) holds 1,536 threads: 3 such blocks, 324 rows a wave.
    small_sm = A100.model_copy(update={"max_threads_per_sm": 1536})
    assert _other_time("llama-2-70b", 8, 324, "rotary", small_sm, slow_rows) == pytest.approx(1e-6 + row, rel=1e-12)
    assert _other_time("llama-2-70b", 8, 325, "rotary", small_sm, slow_rows) == pytest.approx(1e-6 + 2 * row,
                                                                                             rel=1e-12)


def test_flat_kernels_have_no_row_term_by_hand():
    # The residual add is PyTorch's flat kernel: two reads and one write of h = 8192 per token at the flat
    # efficiency, whatever the token count (no per-row block, so one token is not row-bound).
    for tokens in (1, 300):
        expected = 1e-6 + tokens * 3 * 8192 * 2 / (2.039e12 * 0.9)
        assert _other_time("llama-2-70b", 8, tokens, "residual_add") == pytest.approx(expected, rel=1e-12)
    # GPT-175B's FFN is not gated: its GELU is flat too (read and write 4 x 12,288 / 8 = 6,144 values a token).
    ops = layer_operators(run_spec("gpt-175b").model, 8)
    act = CalibratedOperators(ops, A100, ROW_CAL).times_s(1)[[op.name for op in ops].index("ffn_act")]
    assert act == pytest.approx(1e-6 + 2 * 6_144 * 2 / (2.039e12 * 0.9), rel=1e-12)


def test_group_times_add_up_their_operators():
    ops = layer_operators(run_spec("llama-2-70b").model, 8)
    model = CalibratedOperators(ops, A100)
    times, groups = model.times_s(300), model.group_times_s(300)
    for g, group in enumerate(model.groups):
        members = [i for i, op in enumerate(ops) if op.group == group]
        assert groups[g] == pytest.approx(sum(times[i] for i in members), rel=1e-12), group


def test_no_tokens_no_time_and_fractions_are_not_rounded():
    ops = layer_operators(run_spec("llama-2-70b").model, 8)
    model = CalibratedOperators(ops, A100)
    assert not model.times_s(0).any()
    # a fractional count is computed as is (between its neighbours), not read from the integer table
    low, mid, high = model.times_s(3).sum(), model.times_s(2.5).sum(), model.times_s(2).sum()
    # (activation bytes grow with every token, so the sum rises strictly)
    assert high < mid < low and model.times_s(2.5).tolist() == model.times_s(np.array([2.5]))[0].tolist()
