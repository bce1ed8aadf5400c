"""hw/gpu by hand: the parts of the GPU cost model the other GPU tests reach only through sums or not at all.

Every expectation is arithmetic on datasheet numbers (the A100-80GB preset: 312 TFLOP/s FP16, 2.039 TB/s HBM,
NVLink 600 GB/s both directions, 108 SMs; its fitted calibration: HBM efficiency 0.852, FlashAttention
efficiency 0.6, overlap exponent 2.79, kernel overhead 5.25 us, split-KV 512 tokens) and model shapes
(GPT-175B: 96 layers, h = 12288, 96 heads of 128, FFN 49152, vocabulary 50257, FP16), or a closed form stated
in the module docstrings (the ring all-reduce, the split-KV occupancy, the p-norm overlap, AttAcc's
elementwise fits). Written for the mutation group ``gpu`` (tools/mutation.py, docs/testing.md).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from gpu_csv_helpers import roofline_spec, run_spec, write_mlp_csv

from l3sim.errors import ConfigError
from l3sim.hw.gpu import GPUCostModel
from l3sim.hw.gpu.attacc import AttAccGPUModel
from l3sim.hw.gpu.attention import GPUAttention, SplitKVOccupancy
from l3sim.hw.gpu.collectives import MeasuredAllReduce, all_reduce_link, within_node
from l3sim.hw.gpu.operators import (LAYER_GROUPS, OTHER_GROUP, Operator, layer_operators, lm_head_operator,
                                    other_operators)
from l3sim.hw.gpu.roofline import OperatorRoofline, Roofline
from l3sim.hw.gpu.sources import AttAccSource, calibrated_source, roofline_source
from l3sim.hw.gpu.step import step_breakdown
from l3sim.spec import ModelSpec, load_preset_data
from l3sim.spec.platform import GPUSpec

A100 = GPUSpec.parse(load_preset_data("gpus", "a100-80gb")[0])
KV_BYTES_PER_TOKEN = 2 * 96 * 128 * 2 * 96  # GPT-175B: K and V, 96 heads of 128, FP16, 96 layers = 4,718,592


def _model(name: str, **update) -> ModelSpec:
    data, source = load_preset_data("models", name)
    model = ModelSpec.parse(data, source)
    return model.model_copy(update=update) if update else model


GPT = _model("gpt-175b")


# ---- Roofline and OperatorRoofline ------------------------------------------------------------------------------

def test_roofline_time_is_the_slower_of_compute_and_memory_elementwise():
    rates = Roofline(flops_per_s=100.0, bytes_per_s=10.0)
    # 200 FLOPs / 100 = 2 s against 10 bytes / 10 = 1 s; 10 FLOPs = 0.1 s against 50 bytes = 5 s.
    assert rates.time_s([200, 10], [10, 50]).tolist() == [2.0, 5.0]
    assert float(rates.time_s(300, 0)) == 3.0


def test_roofline_of_a_gpu_applies_the_utilisation_caps():
    spec = roofline_spec()
    rates = Roofline.of(spec.platform.gpu, spec.gpu)
    assert rates.flops_per_s == pytest.approx(312e12 * 0.8, rel=1e-15)
    assert rates.bytes_per_s == pytest.approx(2.039e12 * 0.85, rel=1e-15)


def test_operator_roofline_groups_in_first_seen_order_and_fixed_bytes_count_once():
    ops = (Operator("a", "g1", 10.0, 1.0, 100.0), Operator("b", "g2", 0.0, 4.0, 0.0),
           Operator("c", "g1", 2.0, 0.0, 0.0))
    table = OperatorRoofline(ops, Roofline(flops_per_s=1.0, bytes_per_s=1.0))
    assert table.names == ("a", "b", "c") and table.groups == ("g1", "g2")
    # n = 5 tokens: a = max(50, 100 + 5) = 105, b = max(0, 20) = 20, c = max(10, 0) = 10; g1 = a + c.
    assert table.times_s(5).tolist() == [105.0, 20.0, 10.0]
    assert table.group_times_s(5).tolist() == [115.0, 20.0]
    assert table.group_times_s(np.array([0, 5])).tolist() == [[0.0, 0.0], [115.0, 20.0]]


# ---- operators ---------------------------------------------------------------------------------------------------

def test_other_operators_by_hand():
    # Two norms read and write h = 12288 FP16 values per token (and read a weight of h); rotary embedding reads and
    # writes the GPU's query and key heads, (12288 + 12288) / 8 x 2 x 2 bytes; one residual add, 3 x h x 2 bytes.
    ops = other_operators(_model("llama-2-7b"), 1)
    assert [op.name for op in ops] == ["input_norm", "post_norm", "rotary", "residual_add"]
    assert all(op.group == OTHER_GROUP and op.flops_per_token == 0.0 and not op.is_gemm for op in ops)
    h = 4096
    assert [op.bytes_per_token for op in ops] == [2 * h * 2, 2 * h * 2, 2 * (h + h) * 2, 3 * h * 2]
    assert [op.fixed_bytes for op in ops] == [h * 2, h * 2, 0.0, 0.0]
    # GPT-175B has learned positions: no rotary kernel.
    assert [op.name for op in other_operators(GPT, 8)] == ["input_norm", "post_norm", "residual_add"]


def test_rotary_bytes_follow_the_gpus_heads():
    # Llama-2-70B at TP4: 64 query heads of 128 (8192) and 8 KV heads (1024), a quarter per GPU, read and written.
    rotary = {op.name: op for op in other_operators(_model("llama-2-70b"), 4)}["rotary"]
    assert rotary.bytes_per_token == 2 * (8192 + 1024) / 4 * 2


def test_lm_head_operator_by_hand():
    op = lm_head_operator(GPT, 8)
    assert (op.name, op.group) == ("lm_head", "lm_head")
    assert op.flops_per_token == 2 * 12288 * 50257 / 8
    assert op.fixed_bytes == 12288 * 50257 * 2 / 8
    assert (op.gemm_n, op.gemm_k) == (50257 // 8, 12288)


# ---- attention: the calibrated decode path (occupancy, kernel overhead) and the plain paths ----------------------

def _attention(occupancy=None, overhead=5e-6):
    # 8 GPUs at 1 TB/s each: 4,718,592 / 8e12 = 5.89824e-7 s per cached token; overhead 5 us x 96 layers = 480 us.
    return GPUAttention(GPT, 8, Roofline(1e14, 1e12), 1e12, kernel_overhead_s=overhead, occupancy=occupancy)


PER_TOKEN = KV_BYTES_PER_TOKEN / 8e12
FIXED = 5e-6 * 96


def test_decode_without_requests_is_affine_with_the_kernel_overhead():
    attention = _attention()
    assert attention.decode_time_s(1000) == pytest.approx(1000 * PER_TOKEN + FIXED, rel=1e-12)
    assert attention.decode_time_s(1) == pytest.approx(PER_TOKEN + FIXED, rel=1e-12)
    assert attention.decode_time_s(0) == 0.0
    array = attention.decode_time_s(np.array([0, 1, 1000]))
    assert array.tolist() == pytest.approx([0.0, PER_TOKEN + FIXED, 1000 * PER_TOKEN + FIXED], rel=1e-12)
    assert array[0] == 0.0


def test_split_kv_occupancy_by_hand():
    occ = SplitKVOccupancy(num_sms=108, kv_heads_per_gpu=12, split_kv_tokens=512)
    # 2 requests of 1000 tokens: ceil(1000 / 512) = 2 splits x 12 heads x 2 requests = 48 blocks of 108 SMs.
    assert float(occ.fraction(2000, 2)) == pytest.approx(48 / 108, rel=1e-15)
    # 1 request of 100 tokens: one split, 12 blocks; 0 requests count as one.
    assert float(occ.fraction(100, 1)) == pytest.approx(12 / 108, rel=1e-15)
    assert float(occ.fraction(100, 0)) == pytest.approx(12 / 108, rel=1e-15)
    # 10 requests of 600 tokens: 2 splits x 12 x 10 = 240 blocks, more than the SMs: busy share 1.
    assert float(occ.fraction(6000, 10)) == 1.0
    # 3 requests of 1025 tokens: 3 splits each, 108 blocks exactly.
    assert float(occ.fraction(3075, 3)) == 1.0
    assert float(occ.fraction(3072, 3)) == pytest.approx(72 / 108, rel=1e-15)


def test_decode_of_python_numbers_equals_the_array_path_bit_for_bit():
    """The engine's scalar calls take plain-float arithmetic; it must give the numpy formula's value exactly."""
    occ = SplitKVOccupancy(num_sms=132, kv_heads_per_gpu=3, split_kv_tokens=384)
    attention = _attention(occ)
    rng = np.random.default_rng(11)
    totals = np.concatenate([[0, 1, 383, 384, 385, 10**9 + 7], rng.integers(1, 5_000_000, 400)])
    counts = np.concatenate([[0, 1, 1, 1, 1, 3], rng.integers(0, 600, 400)])
    arrays = attention.decode_time_s(totals.astype(float), counts)
    for total, count, expected in zip(totals.tolist(), counts.tolist(), arrays.tolist()):
        assert attention.decode_time_s(total, count) == expected
        assert occ.scalar_fraction(total, count) == float(occ.fraction(total, count))
    assert attention.decode_time_s(0, 5) == 0.0 and attention.decode_time_s(-3.0, 5) == 0.0
    # an array of totals beside one request count (or the reverse) stays elementwise, on numpy's path
    mixed = attention.decode_time_s(totals[:5].astype(float), 7)
    assert mixed.tolist() == [attention.decode_time_s(total, 7) for total in totals[:5].tolist()]
    assert attention.decode_time_s(5000, counts[:4]).tolist() == [
        attention.decode_time_s(5000, count) for count in counts[:4].tolist()]


@pytest.mark.parametrize("exponent", [math.inf, 2.79, 1.5])
def test_prefill_of_a_few_chunks_equals_the_array_path_bit_for_bit(monkeypatch, exponent):
    """A plan's few chunks take plain-float arithmetic; the values must be the numpy formula's exactly."""
    import l3sim.hw.gpu.attention as attention_module

    attention = GPUAttention(GPT, 8, Roofline(3.1e14, 1.7e12), 1e12, overlap_exponent=exponent)
    rng = np.random.default_rng(5)
    for size in list(range(0, 9)) + [16]:
        for _ in range(30):
            chunks = rng.integers(0, 9000, size)
            chunks[rng.random(size) < 0.2] = 0  # empty chunks cost nothing
            done = rng.integers(0, 120_000, size)
            few = attention.prefill_time_s(chunks, done)
            monkeypatch.setattr(attention_module, "FEW_CHUNKS", -1)  # the numpy formula
            array = attention.prefill_time_s(chunks, done)
            monkeypatch.setattr(attention_module, "FEW_CHUNKS", 16)
            assert isinstance(few, np.ndarray) and few.dtype == array.dtype and few.shape == array.shape
            assert few.tolist() == array.tolist()


def test_decode_with_requests_divides_by_the_busy_share():
    attention = _attention(SplitKVOccupancy(num_sms=108, kv_heads_per_gpu=12, split_kv_tokens=512))
    assert float(attention.decode_time_s(2000, 2)) == pytest.approx(2000 * PER_TOKEN * 108 / 48 + FIXED, rel=1e-12)
    assert float(attention.decode_time_s(6000, 10)) == pytest.approx(6000 * PER_TOKEN + FIXED, rel=1e-12)
    assert float(attention.decode_time_s(1, 1)) == pytest.approx(PER_TOKEN * 9 + FIXED, rel=1e-12)
    out = attention.decode_time_s(np.array([0, 100]), np.array([0, 1]))
    assert out.tolist() == pytest.approx([0.0, 100 * PER_TOKEN * 9 + FIXED], rel=1e-12)
    assert out[0] == 0.0
    # Without the request count the occupancy is not applied.
    assert attention.decode_time_s(2000) == pytest.approx(2000 * PER_TOKEN + FIXED, rel=1e-12)


# ---- the calibrated source's wiring (GPUCostModel with the default cost source) -----------------------------------

CAL_STREAM = 2.039e12 * 0.852  # HBM at the fitted efficiency
CAL_PER_TOKEN = KV_BYTES_PER_TOKEN / (8 * CAL_STREAM)
CAL_FIXED = 5.25e-6 * 96


def test_calibrated_decode_attention_by_hand():
    cost = GPUCostModel(run_spec())
    assert cost.cost_source == "calibrated"
    # 2 requests of 1000 tokens at TP8: 12 KV heads per GPU x 2 splits x 2 requests = 48 of 108 SMs busy.
    assert cost.decode_attention_time_s(2000, 2) == pytest.approx(
        2000 * CAL_PER_TOKEN * 108 / 48 + CAL_FIXED, rel=1e-9)
    assert cost.decode_attention_time_s(2000) == pytest.approx(2000 * CAL_PER_TOKEN + CAL_FIXED, rel=1e-9)


def test_calibrated_prefill_attention_by_hand():
    cost = GPUCostModel(run_spec())
    # A 1024-token chunk with nothing cached: 1024 x 1025 / 2 pairs x 4 x 12288 / 8 FLOPs at 312 TFLOP/s x 0.6;
    # Q and O (1024 x 2 x 1536 x 2 bytes) plus the chunk's K and V written and read (2 x 1024 x 6144 bytes).
    compute = 1024 * 1025 / 2 * 4 * 12288 / 8 / (312e12 * 0.6)
    memory = (1024 * 2 * 1536 * 2 + 2 * 1024 * 6144) / CAL_STREAM
    per_layer = (compute**2.79 + memory**2.79) ** (1 / 2.79)
    assert cost.prefill_attention_time_s(1024, 0) == pytest.approx(96 * per_layer, rel=1e-9)


def test_calibrated_source_has_the_other_group_and_four_columns():
    spec = run_spec()
    layer = calibrated_source(spec).layer_times_s(np.array([16.0, 64.0]))
    assert layer.shape == (2, 4) and np.all(layer[:, 3] > 0)
    roof = roofline_source(roofline_spec()).layer_times_s(np.array([16.0, 64.0]))
    assert roof.shape == (2, 4) and np.all(roof[:, 3] == 0.0)
    assert GPUCostModel(run_spec()).fc_breakdown_s(64, 0)["other"] > 0


def test_roofline_source_decode_is_kv_bytes_at_the_capped_bandwidth():
    cost = GPUCostModel(roofline_spec())
    assert cost.decode_attention_time_s(1000) == pytest.approx(1000 * KV_BYTES_PER_TOKEN / (8 * 2.039e12 * 0.85),
                                                               rel=1e-12)


# ---- collectives: the link numbers and the measured all-reduce ----------------------------------------------------

def test_all_reduce_link_from_the_platform_and_from_overrides():
    spec = run_spec()
    bw, latency = all_reduce_link(spec.platform, spec.gpu)
    assert bw == pytest.approx(600e9 / 2 * 0.554, rel=1e-15) and latency == 4.57e-5
    cost = spec.gpu.model_copy(update={"nvlink_util": 0.5, "allreduce_latency_s": 1e-5})
    assert all_reduce_link(spec.platform, cost) == (pytest.approx(150e9, rel=1e-15), 1e-5)


def _nccl_table() -> pd.DataFrame:
    rows = [  # num_workers, devices_per_node, size_bytes, median_s
        (2, 2, 1000, 10e-6), (2, 2, 1000, 12e-6), (2, 2, 3000, 15e-6),
        (2, 1, 2000, 1.0),  # two nodes: not the NVLink ring, left out
        (4, 4, 1000, 20e-6),
    ]
    return pd.DataFrame(rows, columns=["num_workers", "devices_per_node", "size_bytes", "median_s"])


def test_within_node_keeps_the_rows_of_one_node():
    kept = within_node(_nccl_table())
    assert kept["median_s"].tolist() == [10e-6, 12e-6, 15e-6, 20e-6]


def test_measured_all_reduce_by_hand():
    tp2 = MeasuredAllReduce(_nccl_table(), 2, 100e9, "nccl.csv")
    assert tp2.size_bytes.tolist() == [1000.0, 3000.0]
    assert tp2.time_s.tolist() == pytest.approx([11e-6, 15e-6], rel=1e-15)  # repeated size averaged
    sizes = np.array([0, 500, 1000, 2000, 3000, 5000])
    # Below the smallest size its time holds; between points linear; beyond the largest the ring slope
    # 2 (tp - 1) / tp / bw = 1 / 100e9 s per byte; 0 bytes cost 0.
    expected = [0.0, 11e-6, 11e-6, 13e-6, 15e-6, 15e-6 + 2000 / 100e9]
    assert tp2.per_call_s(sizes).tolist() == pytest.approx(expected, rel=1e-12, abs=0)
    assert tp2.per_call_s(0) == 0.0
    tp4 = MeasuredAllReduce(_nccl_table(), 4, 100e9, "nccl.csv")
    assert float(tp4.per_call_s(3000)) == pytest.approx(20e-6 + 2000 * 1.5 / 100e9, rel=1e-12)


def test_measured_all_reduce_names_the_measured_degrees():
    with pytest.raises(ConfigError) as error:
        MeasuredAllReduce(_nccl_table(), 8, 100e9, "nccl.csv")
    assert str(error.value) == "nccl.csv: no within-node all-reduce measurements at tp=8; measured: [2, 4]"


# ---- step_breakdown: its input checks ------------------------------------------------------------------------------

def test_step_breakdown_accepts_the_smallest_steps_and_refuses_smaller():
    cost = GPUCostModel(roofline_spec())
    decode = step_breakdown(cost, 1, 0, "decode")
    assert decode["attention_s"] == pytest.approx(KV_BYTES_PER_TOKEN / (8 * 2.039e12 * 0.85), rel=1e-12)
    prefill = step_breakdown(cost, 1, 1, "prefill")
    assert prefill["attention_s"] == pytest.approx(cost.prefill_attention_time_s(1, 0), rel=1e-15)
    for batch, context, phase in ((0, 5, "decode"), (1, -1, "decode"), (0, 5, "prefill"), (1, 0, "prefill")):
        with pytest.raises(ValueError) as error:
            step_breakdown(cost, batch, context, phase)
        expected = 0 if phase == "decode" else 1
        assert str(error.value) == f"batch must be >= 1 and context >= {expected}"


def test_step_breakdown_parts_by_key():
    cost = GPUCostModel(run_spec())
    step = step_breakdown(cost, 4, 100, "decode")
    parts = cost.fc_breakdown_s(4, 4)
    assert step["fc_s"] == pytest.approx(parts["qkv_proj"] + parts["out_proj"] + parts["ffn"] + parts["lm_head"],
                                         rel=1e-12)
    assert step["allreduce_s"] == parts["all_reduce"] and step["other_s"] == parts["other"] > 0
    assert step["attention_s"] == pytest.approx(cost.decode_attention_time_s(404, 4), rel=1e-12)
    assert step["total_s"] == pytest.approx(step["fc_s"] + step["attention_s"] + step["allreduce_s"]
                                            + step["other_s"], rel=1e-12)


# ---- AttAcc: FP8, the activation kinds, the LM head, the guards ----------------------------------------------------

F = 312e12 * 0.8
SCALE = 1555e9 / 2.039e12


def _activation(flops_per_element: int, tensors: int, elements: int, dtype_bytes: int = 2) -> float:
    """AttAcc's activation: FLOPs on one of 108 thread blocks (FP8 at twice the FP16 peak), or its fitted line."""
    peak = F * (2 // dtype_bytes) / 108
    return max(flops_per_element * elements / peak,
               (4.47e-7 * SCALE * tensors * elements * dtype_bytes + 8.29) * 1e-6)


def test_attacc_fp8_doubles_the_compute_peak():
    # GPT-175B TP8 in FP8, 2048 tokens: GELU 8 x 2048 x 6144 FLOPs at 2 x 249.6 TFLOP/s / 108 = 21.8 us, above the
    # fitted memory time of 2 x 12,582,912 one-byte elements (16.9 us).
    fp8 = AttAccGPUModel(_model("gpt-175b", dtype_bytes=1), A100, 8)
    elements = 2048 * 6144
    assert fp8.layer_op_times_s(2048)["activation"] == pytest.approx(8 * elements / (2 * F / 108), rel=1e-12)
    assert 8 * elements / (2 * F / 108) > (4.47e-7 * SCALE * 2 * elements + 8.29) * 1e-6


@pytest.mark.parametrize("name, tp, flops, tensors", [("gpt-175b", 8, 8, 2), ("opt-66b", 2, 1, 2),
                                                      ("llama-2-70b", 8, 9, 3)])
def test_attacc_activation_kinds(name, tp, flops, tensors):
    # GELU 8 FLOPs per element, ReLU 1, gated (GLU) 8 + 1 reading gate and up: 3 tensors, else 2.
    model = _model(name)
    gpu_model = AttAccGPUModel(model, A100, tp)
    for tokens in (16, 2048):
        elements = tokens * model.ffn_hidden_size / tp
        assert gpu_model.layer_op_times_s(tokens)["activation"] == pytest.approx(
            _activation(flops, tensors, elements), rel=1e-12)


def test_attacc_norms_by_hand():
    # Two layer norms of 64 x 12288 elements: the fitted line on 3 x elements x 2 bytes beats 5 FLOPs on one block.
    model = AttAccGPUModel(GPT, A100, 8)
    one = max(5 * 64 * 12288 / (F / 108), (1.6e-6 * SCALE * 3 * 64 * 12288 * 2 + 6.87) * 1e-6)
    assert model.layer_op_times_s(64)["norm"] == pytest.approx(2 * one, rel=1e-12)


def test_attacc_lm_head_is_the_fc_formula_on_the_vocabulary():
    # With a vocabulary of q + 2 kv = 36864 columns, the LM head is the same GEMM as the QKV projection.
    model = AttAccGPUModel(_model("gpt-175b", vocab_size=3 * 12288), A100, 8)
    for rows in (1, 64, 65, 700):
        assert model.lm_head_time_s(rows) == model.layer_op_times_s(rows)["qkv_proj"] > 0
    assert model.lm_head_time_s(np.array([0, 64])).tolist() == [0.0, model.layer_op_times_s(64)["qkv_proj"]]


def test_attacc_guards():
    with pytest.raises(ConfigError, match="must divide"):
        AttAccGPUModel(GPT, A100, 0)
    with pytest.raises(ConfigError) as error:
        AttAccGPUModel(_model("gpt-175b", dtype_bytes=4), A100, 8)
    assert str(error.value) == "the attacc GPU model supports 1- and 2-byte data (W8A8, W16A16), not 4"
    no_link = A100.model_copy(update={"nvlink_bw_bytes_per_s": 0.0})
    with pytest.raises(ConfigError) as error:
        AttAccGPUModel(GPT, no_link, 2)
    assert str(error.value) == "tp=2 needs NVLink: gpu 'a100-80gb' has nvlink_bw_bytes_per_s = 0"
    assert AttAccGPUModel(_model("llama-2-7b"), no_link, 1).all_reduce_time_s(64) == 0.0
    slow_link = A100.model_copy(update={"nvlink_bw_bytes_per_s": 1.0})
    assert AttAccGPUModel(GPT, slow_link, 2).tp == 2
    with pytest.raises(ConfigError) as error:
        AttAccGPUModel(GPT, A100.model_copy(update={"name": "mystery-gpu"}), 8)
    assert str(error.value) == ("the attacc GPU model knows SM counts and caches of a100-80gb, h100-sxm, h200; "
                                "gpu 'mystery-gpu' needs an explicit AttAccDevice")
    with pytest.raises(ValueError) as error:
        AttAccGPUModel(GPT, A100, 8).prefill_attention_time_s(16, 0, 0)
    assert str(error.value) == "attention over a positive number of tokens needs at least one request"


def test_attacc_source_passes_its_inputs_through():
    spec = run_spec(overrides=["gpu.cost_source=attacc"])
    source, model = AttAccSource(spec), AttAccGPUModel(GPT, A100, 8)
    chunks, done = np.array([0, 128, 512]), np.array([0, 0, 1024])
    prefill = source.prefill_attention_time_s(chunks, done)
    assert prefill.dtype == float and prefill.tolist() == model.prefill_attention_time_s(chunks, done).tolist()
    assert float(source.prefill_attention_time_s(64, 100)) == model.prefill_attention_time_s(64, 100)
    assert float(source.lm_head_time_s(64)) == model.lm_head_time_s(64) > 0
    # nbytes of 64 tokens of h x 2 bytes is one all-reduce of 64 tokens.
    assert float(source.all_reduce_time_s(64 * 12288 * 2)) == model.all_reduce_time_s(64) > 0
    layer = source.layer_times_s(np.array([1, 64]))
    ops = model.layer_op_times_s(64)
    assert layer.shape == (2, 4)
    assert layer[1].tolist() == [ops["qkv_proj"], ops["out_proj"], ops["ffn"] + ops["activation"], ops["norm"]]
    assert float(source.decode_attention_time_s(2048, 4)) == model.decode_attention_time_s(2048, 4)


def test_group_names_are_the_documented_ones():
    assert LAYER_GROUPS == ("qkv_proj", "out_proj", "ffn") and OTHER_GROUP == "other"




# ---- validation: errors, buckets and summaries on a synthetic profile with known errors ---------------------------
# A small shape (8 heads of 128, h = 1024, FFN 4096, not gated, vocabulary 1000, FP16) on the roofline at the
# A100's caps. Per kernel and GPU (tp = 1 or 2): FLOPs per token, bytes per token, weight bytes (operators.py's
# docstring: a GEMM of h x n_out is 2 h n_out / tp FLOPs, reads the input row and writes the output row, reads its
# weight shard once; the activation reads the up output and writes the FFN row).
SHAPE = {"n_head": 8, "n_kv_head": 8, "n_embd": 1024, "n_expanded_embd": 4096, "vocab_size": 1000,
         "use_gated_mlp": "False"}
FC = ("attn_pre_proj", "attn_post_proj", "mlp_up_proj", "mlp_act", "mlp_down_proj")
B_ROOF = 2.039e12 * 0.85


def _kernel_coefficients(tp: int) -> dict[str, tuple[float, float, float]]:
    h, f, qkv = 1024, 4096, 3072
    return {
        "attn_pre_proj": (2 * h * qkv / tp, (h + qkv / tp) * 2, h * qkv * 2 / tp),
        "attn_post_proj": (2 * h * h / tp, (h / tp + h) * 2, h * h * 2 / tp),
        "mlp_up_proj": (2 * h * f / tp, (h + f / tp) * 2, h * f * 2 / tp),
        "mlp_act": (0.0, 2 * f / tp * 2, 0.0),
        "mlp_down_proj": (2 * f * h / tp, (f / tp + h) * 2, f * h * 2 / tp),
    }


def _roofline_s(kernel: str, tokens: int, tp: int) -> float:
    flops, per_token, fixed = _kernel_coefficients(tp)[kernel]
    return max(tokens * flops / F, (fixed + tokens * per_token) / B_ROOF)


# (tokens, tp) -> the error model / measured - 1 given to every FC kernel at that point.
ERRORS = {(128, 1): 0.5, (129, 1): -0.2, (4096, 1): 1.0, (4097, 1): 0.25, (4096, 2): -0.6}
OTHER_MS = 0.001  # write_mlp_csv's value for input_layernorm and add


def _mlp_profile(folder):
    points = {(tokens, tp): {k: _roofline_s(k, tokens, tp) * 1e3 / (1 + e) for k in FC}
              for (tokens, tp), e in ERRORS.items()}
    return write_mlp_csv(folder / "small_mlp.csv", points, SHAPE)


RING_BW, RING_LATENCY = 600e9 / 2 * 0.554, 4.57e-5
# tp = 2 sizes and errors of the ring model; the first two are measured against size (the monotone floor pools them).
NCCL = {1000: None, 2000: None, 2**20: 0.1, 2**20 + 1: -0.1, 2**24: 0.3, 2**24 + 1: 0.2}
NCCL_MEASURED_S = {1000: 2e-5, 2000: 1e-5}


def _ring_s(size: int) -> float:
    return RING_LATENCY + size / RING_BW  # 2 (tp - 1) / tp = 1 at tp = 2


def _nccl_measured_s(size: int) -> float:
    return NCCL_MEASURED_S[size] if NCCL[size] is None else _ring_s(size) / (1 + NCCL[size])


def _nccl_profile(folder):
    lines = [",time_stats.all_reduce.min,time_stats.all_reduce.max,time_stats.all_reduce.mean,"
             "time_stats.all_reduce.median,time_stats.all_reduce.std,rank,num_workers,size,collective,"
             "devices_per_node,max_devices_per_node"]
    rows = [(2, size, 2, _nccl_measured_s(size) * 1e3) for size in NCCL]
    rows.append((2, 4096, 1, 99.0))  # across two nodes: not compared
    for i, (workers, size, per_node, ms) in enumerate(rows):
        lines.append(f"{i},{ms},{ms},{ms},{ms},0,0,{workers},{size},all_reduce,{per_node},8")
    path = folder / "a100_all_reduce.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def _platform_and_cost(source: str):
    spec = run_spec()
    return spec.platform, spec.gpu.model_copy(update={"cost_source": source})


def test_point_rows_and_summary_rows_on_known_errors(tmp_path):
    from l3sim.hw.gpu.profile_points import load_profile_points
    from l3sim.hw.gpu.validation import point_rows, summary_rows

    platform, cost = _platform_and_cost("roofline")
    points = load_profile_points(_mlp_profile(tmp_path))
    rows = {(r["tp"], r["tokens"]): r for r in point_rows(points, platform.gpu, cost)}
    assert set(rows) == {(tp, tokens) for tokens, tp in ERRORS}
    for (tokens, tp), e in ERRORS.items():
        row = rows[(tp, tokens)]
        model = sum(_roofline_s(k, tokens, tp) for k in FC)
        assert row["file"] == "small_mlp.csv"
        assert row["fc_model_s"] == pytest.approx(model, rel=1e-12)
        assert row["fc_measured_s"] == pytest.approx(model / (1 + e), rel=1e-9)
        assert row["fc_err"] == pytest.approx(e, rel=1e-9)
        assert row["layer_model_s"] == pytest.approx(model, rel=1e-12)  # the roofline has no norms or adds
        assert row["layer_measured_s"] == pytest.approx(model / (1 + e) + 2 * OTHER_MS * 1e-3, rel=1e-9)
    summary = summary_rows(points, platform.gpu, cost)
    buckets = {(1, 128): "1-128", (1, 129): "129-512", (1, 4096): "513-4096", (1, 4097): ">4096",
               (2, 4096): "513-4096"}
    assert {(r["tp"], r["tokens"]) for r in summary} == {(tp, label) for (tp, _), label in buckets.items()}
    for (tp, tokens), label in buckets.items():
        e = ERRORS[(tokens, tp)]
        got = {r["operator"]: r for r in summary if (r["tp"], r["tokens"]) == (tp, label)}
        assert set(got) == {"qkv_proj", "out_proj", "ffn", "fc", "layer"}  # no "other": the roofline has none
        for op in ("qkv_proj", "out_proj", "ffn", "fc"):
            assert got[op]["n"] == 1 and got[op]["file"] == "small_mlp.csv"
            assert got[op]["mean_err"] == pytest.approx(e, rel=1e-9)
            assert got[op]["mean_abs_err"] == got[op]["max_abs_err"] == pytest.approx(abs(e), rel=1e-9)
        model = sum(_roofline_s(k, tokens, tp) for k in FC)
        layer = model / (model / (1 + e) + 2 * OTHER_MS * 1e-3) - 1
        assert got["layer"]["mean_err"] == pytest.approx(layer, rel=1e-9)


def test_summary_rows_of_the_calibrated_model_have_other(tmp_path):
    from l3sim.hw.gpu.profile_points import load_profile_points
    from l3sim.hw.gpu.validation import kernel_predictions, summary_rows

    platform, cost = _platform_and_cost("calibrated")
    points = load_profile_points(_mlp_profile(tmp_path))
    predicted = kernel_predictions(points, 1, platform.gpu, cost)
    assert list(predicted.columns) == [*FC, "input_layernorm", "add"]
    assert (predicted[["input_layernorm", "add"]].to_numpy() > 0).all()
    rows = summary_rows(points, platform.gpu, cost)
    assert {r["operator"] for r in rows} == {"qkv_proj", "out_proj", "ffn", "fc", "other", "layer"}


def test_attacc_kernels_under_the_vidur_names():
    from l3sim.hw.gpu.validation import AttAccKernels

    kernels = AttAccKernels(GPT, A100, 8)
    ops = AttAccGPUModel(GPT, A100, 8).layer_op_times_s(np.array([16, 64]))
    table = kernels.times_s(np.array([16, 64]))
    assert kernels.names == ("qkv_proj", "out_proj", "ffn_up", "ffn_act", "ffn_down", "input_norm", "post_norm")
    assert table.shape == (2, 7)
    for i in range(2):
        half = ops["norm"][i] / 2
        assert table[i].tolist() == [ops["qkv_proj"][i], ops["out_proj"][i], ops["ffn"][i], ops["activation"][i],
                                     0.0, half, half]


def test_kernel_model_refuses_the_profile_source(tmp_path):
    from l3sim.hw.gpu.profile_points import load_profile_points
    from l3sim.hw.gpu.validation import kernel_model

    platform, cost = _platform_and_cost("profile")
    with pytest.raises(ConfigError) as error:
        kernel_model(load_profile_points(_mlp_profile(tmp_path)), 1, platform.gpu, cost)
    assert str(error.value) == ("validate gpu compares one of the sources calibrated, roofline, attacc with the "
                                "profiles; got cost_source 'profile'")


def test_all_reduce_points_of_the_ring_and_of_attacc(tmp_path):
    from l3sim.hw.gpu.validation import all_reduce_points

    path = _nccl_profile(tmp_path)
    platform, cost = _platform_and_cost("roofline")
    ring = all_reduce_points(path, platform, cost)
    assert ring["tp"].tolist() == [2] * len(NCCL) and ring["size_bytes"].tolist() == list(NCCL)
    assert ring["measured_s"].tolist() == pytest.approx([_nccl_measured_s(s) for s in NCCL], rel=1e-12)
    assert ring["model_s"].tolist() == pytest.approx([_ring_s(s) for s in NCCL], rel=1e-12)
    assert ring["err"].tolist() == pytest.approx([_ring_s(s) / _nccl_measured_s(s) - 1 for s in NCCL], rel=1e-9)
    _, attacc_cost = _platform_and_cost("attacc")
    theirs = all_reduce_points(path, platform, attacc_cost)
    # One NVLink step of S / 2 bytes: max(6060 ns + 0.009 ns x S / 2, S / 2 at 300 GB/s).
    expected = [max((6060 + 0.009 * s / 2) * 1e-9, s / 2 / 300e9) for s in NCCL]
    assert theirs["model_s"].tolist() == pytest.approx(expected, rel=1e-12)


def test_all_reduce_summary_rows_by_size_bucket(tmp_path):
    from l3sim.hw.gpu.validation import all_reduce_points, all_reduce_summary_rows

    platform, cost = _platform_and_cost("roofline")
    rows = all_reduce_summary_rows(all_reduce_points(_nccl_profile(tmp_path), platform, cost))
    small = [_ring_s(1000) / 2e-5 - 1, _ring_s(2000) / 1e-5 - 1, 0.1]
    assert [(r["tp"], r["size"], r["n"]) for r in rows] == [(2, "<=1 MiB", 3), (2, "1-16 MiB", 2), (2, ">16 MiB", 1)]
    assert rows[0]["mean_err"] == pytest.approx(sum(small) / 3, rel=1e-9)
    assert rows[0]["max_abs_err"] == pytest.approx(max(small), rel=1e-9)
    assert rows[1]["mean_err"] == pytest.approx(0.1, rel=1e-9)
    assert rows[1]["mean_abs_err"] == pytest.approx(0.2, rel=1e-9)
    assert rows[1]["max_abs_err"] == pytest.approx(0.3, rel=1e-9)
    assert rows[2]["mean_err"] == pytest.approx(0.2, rel=1e-9)


def test_validate_gpu_summary_and_line(tmp_path):
    from l3sim.hw.gpu.validation import summary_line, validate_gpu

    _mlp_profile(tmp_path)
    _nccl_profile(tmp_path)
    platform, cost = _platform_and_cost("roofline")
    result = validate_gpu(tmp_path, platform, cost)
    assert (result["gpu"], result["cost_source"]) == ("a100-80gb", "roofline")
    assert result["fc_mape"] == pytest.approx((0.5 + 0.2 + 1.0 + 0.25 + 0.6) / 5, rel=1e-9)
    assert result["fc_mape_by_bucket"] == pytest.approx(
        {"1-128": 0.5, "129-512": 0.2, "513-4096": 0.8, ">4096": 0.25}, rel=1e-9)
    assert result["fc_mape_by_tp"] == pytest.approx({"1": 1.95 / 4, "2": 0.6}, rel=1e-9)
    worst = result["fc_mape_worst_cell"]
    assert (worst["tp"], worst["tokens"]) == (1, "513-4096") and worst["mape"] == pytest.approx(1.0, rel=1e-9)
    small = [abs(_ring_s(1000) / 2e-5 - 1), abs(_ring_s(2000) / 1e-5 - 1), 0.1]
    assert result["allreduce_mape"] == pytest.approx((sum(small) + 0.1 + 0.3 + 0.2) / 6, rel=1e-9)
    assert result["allreduce_mape_by_size"] == pytest.approx({"<=1 MiB": sum(small) / 3, ">1 MiB": 0.2}, rel=1e-9)
    # The best nondecreasing fit of the small sizes: 1e-5 for both 1000 and 2000 bytes (relative L1: the point at
    # 2e-5 is off by half), the 1 MiB point exactly; above 1 MiB the measurements already grow with size.
    assert result["allreduce_floor_by_size"] == pytest.approx({"<=1 MiB": 0.5 / 3, ">1 MiB": 0.0}, abs=1e-12)
    assert len(result["rows"]) == 5 and len(result["all_reduce"]) == 3
    assert {r["operator"] for r in result["mlp"]} == {"qkv_proj", "out_proj", "ffn", "fc", "layer"}
    # the layer adds the norm and the residual add the helper writes at 0.001 ms each, which the roofline leaves out
    layer = []
    for (tokens, tp), e in ERRORS.items():
        fc_model = sum(_roofline_s(k, tokens, tp) for k in FC)
        layer.append(abs(fc_model / (fc_model / (1 + e) + 2e-6) - 1))
    assert result["layer_mape"] == pytest.approx(sum(layer) / len(layer), rel=1e-9)
    mape = (sum(small) + 0.6) / 6
    assert summary_line(result) == (
        "roofline on a100-80gb: FC-sum MAPE 51.0% (1-128 50.0%, 129-512 20.0%, 513-4096 80.0%, >4096 25.0%; "
        f"worst TP1 513-4096 100.0%); layer MAPE {sum(layer) / len(layer):.1%}; all-reduce MAPE {mape:.1%} "
        f"(<=1 MiB {sum(small) / 3:.1%}, "
        ">1 MiB 20.0%; "
        "best monotone fit <=1 MiB 16.7%, >1 MiB 0.0%)")


def test_validate_gpu_without_all_reduce_and_its_errors(tmp_path):
    from l3sim.hw.gpu.validation import summary_line, validate_gpu

    _mlp_profile(tmp_path)
    platform, cost = _platform_and_cost("roofline")
    result = validate_gpu(tmp_path, platform, cost)
    assert result["allreduce_mape"] is None and result["all_reduce"] == []
    assert result["allreduce_mape_by_size"] == {} and result["allreduce_floor_by_size"] == {}
    assert summary_line(result).endswith(f"worst TP1 513-4096 100.0%); layer MAPE {result['layer_mape']:.1%}")
    with pytest.raises(ConfigError) as error:
        validate_gpu(tmp_path / "none", platform, cost)
    assert str(error.value) == f"profiles directory not found: {tmp_path / 'none'}"
    with pytest.raises(ConfigError) as error:
        validate_gpu(tmp_path, platform, cost, "*.nothing")
    assert str(error.value) == f"{tmp_path}: no files match '*.nothing'"


# ---- measured layer times (cost_source = "profile"): inside, below and above the measured points -----------------

def _llama70_roofline_s(kernel: str, tokens: float, tp: int) -> float:
    """Llama-2-70B per layer on one of tp GPUs at the A100's caps: h = 8192, QKV 8192 + 2 x 1024, gated FFN 28672."""
    h, qkv, f = 8192, 10240, 28672
    flops, per_token, fixed = {
        "attn_pre_proj": (2 * h * qkv / tp, (h + qkv / tp) * 2, h * qkv * 2 / tp),
        "attn_post_proj": (2 * h * h / tp, (h / tp + h) * 2, h * h * 2 / tp),
        "mlp_up_proj": (2 * h * 2 * f / tp, (h + 2 * f / tp) * 2, h * 2 * f * 2 / tp),
        "mlp_act": (0.0, 3 * f / tp * 2, 0.0),
        "mlp_down_proj": (2 * f * h / tp, (f / tp + h) * 2, f * h * 2 / tp),
    }[kernel]
    return max(tokens * flops / F, (fixed + tokens * per_token) / B_ROOF)


GROUP_KERNELS = {"qkv_proj": ("attn_pre_proj",), "out_proj": ("attn_post_proj",),
                 "ffn": ("mlp_up_proj", "mlp_act", "mlp_down_proj")}


def test_measured_layer_times_by_hand(tmp_path):
    from l3sim.hw.gpu.measured import MeasuredLayerTimes
    from l3sim.hw.gpu.operators import layer_operators
    from l3sim.hw.profiles import load_vidur_mlp_csv

    medians_ms = {64: {"attn_pre_proj": 0.3, "attn_post_proj": 0.15, "mlp_up_proj": 1.0, "mlp_act": 0.02,
                       "mlp_down_proj": 0.6},
                  512: {"attn_pre_proj": 0.9, "attn_post_proj": 0.5, "mlp_up_proj": 3.0, "mlp_act": 0.1,
                        "mlp_down_proj": 1.5}}
    path = write_mlp_csv(tmp_path / "llama_mlp.csv", {(n, 4): m for n, m in medians_ms.items()})
    spec = roofline_spec("llama-2-70b")
    roofline = OperatorRoofline(layer_operators(spec.model, 4), Roofline.of(spec.platform.gpu, spec.gpu))
    measured = MeasuredLayerTimes(load_vidur_mlp_csv(path), spec.model, 4, roofline, str(path))
    assert measured.num_tokens.tolist() == [64.0, 512.0]

    def at(n: int, group: str) -> float:
        return sum(medians_ms[n][k] for k in GROUP_KERNELS[group]) * 1e-3

    def roof(n: float, group: str) -> float:
        return sum(_llama70_roofline_s(k, n, 4) for k in GROUP_KERNELS[group])

    tokens = np.array([[0, 32], [64, 288], [512, 1024]])
    out = measured.group_times_s(tokens)
    assert out.shape == (3, 2, 3)
    for g, group in enumerate(("qkv_proj", "out_proj", "ffn")):
        assert out[0, 0, g] == 0.0
        # below the first point: its time scaled by the roofline's ratio; above the last likewise
        assert out[0, 1, g] == pytest.approx(at(64, group) * roof(32, group) / roof(64, group), rel=1e-9)
        assert out[1, 0, g] == pytest.approx(at(64, group), rel=1e-12)
        assert out[1, 1, g] == pytest.approx((at(64, group) + at(512, group)) / 2, rel=1e-12)
        assert out[2, 0, g] == pytest.approx(at(512, group), rel=1e-12)
        assert out[2, 1, g] == pytest.approx(at(512, group) * roof(1024, group) / roof(512, group), rel=1e-9)
    assert measured.group_times_s(100).shape == (3,)


def test_profile_points_take_the_shape_from_the_file(tmp_path):
    from l3sim.hw.gpu.profile_points import load_profile_points

    points = load_profile_points(write_mlp_csv(tmp_path / "Llama-2-70b-hf_mlp.csv", {(16, 2): {}, (32, 2): {}}))
    model = points.model
    assert points.file == "Llama-2-70b-hf_mlp.csv" and model.name == "Llama-2-70b-hf_mlp"
    assert (model.num_layers, model.hidden_size, model.num_heads, model.num_kv_heads, model.head_dim) == (
        1, 8192, 64, 8, 128)
    assert (model.ffn_hidden_size, model.gated_ffn, model.vocab_size) == (28672, True, 32768)
    assert points.kernels == (*FC, "input_layernorm", "add")
    tokens, times = points.by_tp[2]
    assert tokens.tolist() == [16.0, 32.0] and times.loc[16, "mlp_act"] == pytest.approx(1e-6, rel=1e-12)


def test_profile_points_errors_name_the_file(tmp_path):
    from l3sim.hw.gpu.profile_points import load_profile_points

    two = write_mlp_csv(tmp_path / "two_mlp.csv", {(16, 1): {}})
    other = write_mlp_csv(tmp_path / "x.csv", {(16, 1): {}}, SHAPE).read_text().splitlines()[1]
    two.write_text(two.read_text() + other + "\n")
    with pytest.raises(ConfigError) as error:
        load_profile_points(two)
    assert str(error.value) == "two_mlp: expected one model shape, found 2"
    lacking = pd.read_csv(write_mlp_csv(tmp_path / "lack_mlp.csv", {(16, 1): {}}))
    lacking = lacking[[c for c in lacking.columns if not c.startswith("time_stats.mlp_act.")]]
    path = tmp_path / "lack_mlp.csv"
    lacking.to_csv(path, index=False)
    with pytest.raises(ConfigError) as error:
        load_profile_points(path)
    assert str(error.value) == f"{path}: profile lacks kernel(s) mlp_act (time_stats.<kernel>.median)"


def test_cost_model_returns_floats_for_scalars_and_arrays_for_arrays():
    cost = GPUCostModel(run_spec())
    for value in (cost.fc_time_s(64, 1), cost.prefill_attention_time_s(64, 0), cost.decode_attention_time_s(100, 2),
                  cost.decode_attention_time_s(100)):
        assert type(value) is float and value > 0
    assert cost.fc_time_s(np.array([1, 64]), 1).shape == (2,)
    assert cost.prefill_attention_time_s(np.array([1, 64]), 0).shape == (2,)
    assert cost.decode_attention_time_s(np.array([100, 200]), np.array([1, 2])).shape == (2,)


@pytest.mark.parametrize("name", ["gpt-175b", "llama-2-70b"])
def test_attacc_one_token_chunk_is_one_decode_step(name):
    """A prefill chunk of one token after d cached ones is the attention of one decode step over d + 1 keys: the
    GQA group's query heads as rows, one problem per KV head of the GPU. At TP1 GPT-175B's 96 problems of one
    request fill 96 of 108 SMs (a second request would need a second wave); Llama-2-70B stacks 8 query heads."""
    model = AttAccGPUModel(_model(name), A100, 1)
    for done in (0, 100, 4095):
        assert model.prefill_attention_time_s(1, done) == model.decode_attention_time_s(done + 1, 1) > 0


def test_attacc_prefill_of_equal_chunks_batches_them():
    # GPT-175B TP1: one chunk is 96 problems (u = 96/108); two chunks 192 problems in two waves (u = 192/216, the
    # same), so twice the work at the same occupancy takes twice the time.
    model = AttAccGPUModel(GPT, A100, 1)
    assert model.prefill_attention_time_s(128, 0, 2) == pytest.approx(2 * model.prefill_attention_time_s(128, 0),
                                                                       rel=1e-12)


def test_measured_all_reduce_of_one_byte_is_the_latency_floor():
    assert float(MeasuredAllReduce(_nccl_table(), 2, 100e9, "nccl.csv").per_call_s(1)) == pytest.approx(11e-6,
                                                                                                      rel=1e-12)


def test_attacc_kernels_of_one_token_count():
    from l3sim.hw.gpu.validation import AttAccKernels

    row = AttAccKernels(GPT, A100, 8).times_s(64)
    ops = AttAccGPUModel(GPT, A100, 8).layer_op_times_s(64)
    assert row.shape == (7,) and row[0] == ops["qkv_proj"] and row[5] == row[6] == ops["norm"] / 2


def test_profile_source_errors_name_the_file(tmp_path):
    path = write_mlp_csv(tmp_path / "llama_mlp.csv", {(64, 4): {}})
    with pytest.raises(ConfigError) as error:
        GPUCostModel(run_spec("llama-2-70b", ['gpu.cost_source="profile"', f'gpu.profile_path="{path}"'],
                              parallel={"tp": 8, "dp": 1}))
    assert str(error.value) == f"{path}: no measurements at tp=8; measured TP degrees: [4]"
    with pytest.raises(ConfigError) as error:
        GPUCostModel(run_spec("llama-2-70b", ['gpu.cost_source="profile"']))
    assert str(error.value) == "gpu.cost_source = 'profile' needs gpu.profile_path (a Vidur *_mlp.csv)"


def test_validate_gpu_with_only_large_all_reduces(tmp_path):
    from l3sim.hw.gpu.validation import summary_line, validate_gpu

    _mlp_profile(tmp_path)
    lines = [",time_stats.all_reduce.median,num_workers,size,collective,devices_per_node",
             f"0,{_ring_s(2**24) * 1e3},2,{2**24},all_reduce,2"]
    (tmp_path / "a100_all_reduce.csv").write_text("\n".join(lines) + "\n")
    platform, cost = _platform_and_cost("roofline")
    result = validate_gpu(tmp_path, platform, cost)
    assert result["allreduce_mape"] == pytest.approx(0.0, abs=1e-12)
    assert result["allreduce_floor_by_size"]["<=1 MiB"] is None
    assert result["allreduce_floor_by_size"][">1 MiB"] == pytest.approx(0.0, abs=1e-12)
    # no size at or below 1 MiB: that bucket is left out of the line (it raised a TypeError on None before)
    assert summary_line(result).endswith("all-reduce MAPE 0.0% (>1 MiB 0.0%; best monotone fit >1 MiB 0.0%)")


@pytest.mark.parametrize("source", ["roofline", "calibrated", "attacc"])
@pytest.mark.parametrize("tp", [1, 8])
def test_fc_time_is_its_dense_part_plus_its_lm_head_bit_for_bit(source, tp):
    """MemoizedFCTime remembers the two parts apart and adds them; the sum must be fc_time_s exactly (a rounding
    difference would make a memoized run differ from an unmemoized one)."""
    cost = GPUCostModel(run_spec("gpt-175b", [f'gpu.cost_source="{source}"'], parallel={"tp": tp, "dp": 1}))
    for tokens in (1, 7, 128, 129, 1000, 4097):
        for logits in (0, 1, 64, tokens):
            assert cost.fc_time_s(tokens, logits) == cost.fc_dense_time_s(tokens) + cost.fc_lm_head_time_s(logits)
    assert cost.fc_lm_head_time_s(0) == 0.0 and cost.fc_dense_time_s(64) > cost.fc_dense_time_s(1) > 0


# ---- mutation group gpu, second pass: operator fields, the memory split, the ring, the cost model's guards --------

def _fields(op: Operator) -> tuple:
    return (op.name, op.group, op.flops_per_token, op.bytes_per_token, op.fixed_bytes, op.gemm_n, op.gemm_k)


def test_layer_operators_of_gpt_by_hand():
    """GPT-175B at TP8, FP16 with biases: h = 12288, QKV = 3 x 12288 = 36864 columns (4608 per GPU), FFN 49152 (6144
    per GPU), not gated. Column-parallel matrices read their bias shard (1/8 of QKV or FFN columns); the row-parallel
    ones read the whole h-wide bias once."""
    ops = layer_operators(GPT, 8)
    assert [_fields(op) for op in ops] == [
        ("qkv_proj", "qkv_proj", 2 * 12288 * 36864 / 8, (12288 + 4608) * 2, (12288 * 36864 + 36864) * 2 / 8, 4608,
         12288),
        ("out_proj", "out_proj", 2 * 12288 * 12288 / 8, (1536 + 12288) * 2, (12288 * 1536 + 12288) * 2, 12288, 1536),
        ("ffn_up", "ffn", 2 * 12288 * 49152 / 8, (12288 + 6144) * 2, (12288 * 49152 + 49152) * 2 / 8, 6144, 12288),
        ("ffn_act", "ffn", 0.0, (6144 + 6144) * 2, 0.0, 0, 0),
        ("ffn_down", "ffn", 2 * 49152 * 12288 / 8, (6144 + 12288) * 2, (6144 * 12288 + 12288) * 2, 12288, 6144),
    ]
    assert [op.is_gemm for op in ops] == [True, True, True, False, True]
    assert all(type(op.gemm_n) is int and type(op.gemm_k) is int for op in ops)  # GEMM widths are whole columns


def test_layer_operators_of_qwen_by_hand():
    """Qwen-72B at TP4: 64 query heads and 8 KV heads of 128 (QKV = 8192 + 2 x 1024 = 10240 columns, 2560 per GPU),
    gated FFN 24576 (gate and up fused: 49152 columns, 12288 per GPU), a bias on QKV only."""
    qwen = _model("qwen-72b")
    assert (qwen.q_size, qwen.kv_size, qwen.dtype_bytes) == (8192, 1024, 2)
    assert [_fields(op) for op in layer_operators(qwen, 4)] == [
        ("qkv_proj", "qkv_proj", 2 * 8192 * 10240 / 4, (8192 + 2560) * 2, (8192 * 10240 + 10240) * 2 / 4, 2560, 8192),
        ("out_proj", "out_proj", 2 * 8192 * 8192 / 4, (2048 + 8192) * 2, 8192 * 2048 * 2, 8192, 2048),
        ("ffn_up", "ffn", 2 * 8192 * 49152 / 4, (8192 + 12288) * 2, 8192 * 12288 * 2, 12288, 8192),
        ("ffn_act", "ffn", 0.0, (12288 + 6144) * 2, 0.0, 0, 0),
        ("ffn_down", "ffn", 2 * 24576 * 8192 / 4, (6144 + 8192) * 2, 6144 * 8192 * 2, 8192, 6144),
    ]
    assert all(type(op.gemm_n) is int and type(op.gemm_k) is int for op in layer_operators(qwen, 4))
    with pytest.raises(ConfigError) as error:  # 16 divides the 64 query heads but not the 8 KV heads
        layer_operators(qwen, 16)
    assert str(error.value) == "model 'qwen-72b': tp=16 must divide num_heads (64) and num_kv_heads (8)"


def test_lm_head_operator_at_tp8_by_hand():
    # 50257 / 8 = 6282.125 vocabulary columns per GPU (the FLOPs and bytes keep the fraction, the GEMM width not).
    assert _fields(lm_head_operator(GPT, 8)) == ("lm_head", "lm_head", 2 * 12288 * 50257 / 8,
                                                 (12288 + 50257 / 8) * 2, 12288 * 50257 * 2 / 8, 6282, 12288)


def test_plan_memory_by_hand():
    from l3sim.hw.gpu.memory import MemoryPlan, plan_memory, weight_bytes_per_gpu

    weights = weight_bytes_per_gpu(GPT, 1)
    assert weights / 1e9 == pytest.approx(349.2, abs=0.05)  # ~174.6 B parameters in FP16
    hbm = 80 * 2**30  # 85.9 GB; a 10 % reserve is 8.6 GB and leaves 77.3 GB
    assert plan_memory(GPT, A100, 1, 0.1) == MemoryPlan(
        weights, 0.1 * hbm, 0.0, False, "gpt-175b does not fit on tp=1 x a100-80gb: weights need 349.2 GB per GPU, "
                                        "HBM 85.9 GB minus the activation reserve 8.6 GB leaves 77.3 GB")
    shard = weight_bytes_per_gpu(GPT, 8)
    exact = A100.model_copy(update={"hbm_capacity_bytes": shard})  # no byte left for the KV cache: does not fit
    plan = plan_memory(GPT, exact, 8, 0.0)
    assert (plan.fits, plan.kv_capacity_bytes, plan.reserve_bytes_per_gpu) == (False, 0.0, 0.0)
    one_byte = A100.model_copy(update={"hbm_capacity_bytes": shard + 1})  # one byte per GPU: eight in the replica
    assert plan_memory(GPT, one_byte, 8, 0.0) == MemoryPlan(shard, 0.0, 8.0, True, "")
    fits = plan_memory(GPT, A100, 8, 0.1)
    assert fits == MemoryPlan(shard, 0.1 * hbm, 8 * (0.9 * hbm - shard), True, "")


def test_ring_all_reduce_edges_by_hand():
    from l3sim.hw.gpu.collectives import ring_all_reduce_time_s

    one_gpu = ring_all_reduce_time_s(np.array([0, 5, 7]), 1, 0.0, 1.0)
    assert one_gpu.dtype == float and one_gpu.tolist() == [0.0, 0.0, 0.0]
    # 4 GPUs: 2 x 3/4 = 1.5 bytes on the wire per byte; 1 byte at 1 byte/s after a 1 s latency = 2.5 s
    assert ring_all_reduce_time_s(np.array([0, 1, 2]), 4, 1.0, 1.0).tolist() == [0.0, 2.5, 4.0]
    for bw in (0.0, -1.0):
        with pytest.raises(ValueError) as error:
            ring_all_reduce_time_s(8, 2, bw, 0.0)
        assert str(error.value) == "ring all-reduce over more than one GPU needs a positive link bandwidth"


def test_cost_model_guards_and_its_memory_fields():
    spec = roofline_spec()

    def with_gpu(**update):
        return spec.model_copy(update={"platform": spec.platform.model_copy(
            update={"gpu": spec.platform.gpu.model_copy(update=update)})})

    with pytest.raises(ConfigError) as error:
        GPUCostModel(with_gpu(nvlink_bw_bytes_per_s=0.0))
    assert str(error.value) == "tp=8 needs NVLink: gpu 'a100-80gb' has nvlink_bw_bytes_per_s = 0"
    assert GPUCostModel(with_gpu(nvlink_bw_bytes_per_s=1.0)).tp == 8  # any positive link will do
    two = run_spec("llama-2-7b", ['gpu.cost_source="roofline"'], parallel={"tp": 2, "dp": 1})
    with pytest.raises(ConfigError) as error:  # two GPUs need NVLink too
        GPUCostModel(two.model_copy(update={"platform": two.platform.model_copy(
            update={"gpu": two.platform.gpu.model_copy(update={"nvlink_bw_bytes_per_s": 0.0})})}))
    assert str(error.value) == "tp=2 needs NVLink: gpu 'a100-80gb' has nvlink_bw_bytes_per_s = 0"
    one = run_spec("llama-2-7b", ['gpu.cost_source="roofline"'], parallel={"tp": 1, "dp": 1})
    no_link = one.model_copy(update={"platform": one.platform.model_copy(
        update={"gpu": one.platform.gpu.model_copy(update={"nvlink_bw_bytes_per_s": 0.0})})})
    assert GPUCostModel(no_link).tp == 1  # one GPU needs no NVLink
    with pytest.raises(ConfigError) as error:
        GPUCostModel(spec.model_copy(update={"gpu": spec.gpu.model_copy(update={"cost_source": "magic"})}))
    assert str(error.value).startswith("unknown gpu.cost_source 'magic'; known: ")
    known = str(error.value).split("known: ")[1].split(", ")
    assert {"roofline", "calibrated", "profile", "attacc"} <= set(known)
    cost = GPUCostModel(spec)
    assert cost.reserve_bytes_per_gpu == pytest.approx(spec.gpu.activation_reserve_fraction * 80 * 2**30, rel=1e-15)


def test_fc_breakdown_gives_floats_for_a_scalar_and_arrays_for_an_array():
    for tp in (1, 8):
        cost = GPUCostModel(run_spec("llama-2-7b" if tp == 1 else "gpt-175b", ['gpu.cost_source="roofline"'],
                                     parallel={"tp": tp, "dp": 1}))
        scalar = cost.fc_breakdown_s(16, 1)
        assert all(type(value) is float for value in scalar.values())
        array = cost.fc_breakdown_s(np.array([16, 32, 64]), 1)
        assert all(isinstance(value, np.ndarray) and value.shape == (3,) for value in array.values()), tp
        if tp == 1:
            assert array["all_reduce"].tolist() == [0.0, 0.0, 0.0]


def test_kernel_model_of_attacc_is_attaccs_kernels(tmp_path):
    from l3sim.hw.gpu.profile_points import load_profile_points
    from l3sim.hw.gpu.validation import AttAccKernels, kernel_model

    platform, cost = _platform_and_cost("attacc")
    points = load_profile_points(_mlp_profile(tmp_path))
    kernels = kernel_model(points, 2, platform.gpu, cost)
    assert isinstance(kernels, AttAccKernels)
    tokens = np.array([128.0, 4096.0])
    assert kernels.times_s(tokens).tolist() == AttAccKernels(points.model, platform.gpu, 2).times_s(tokens).tolist()
    assert kernels.times_s(tokens).tolist() != AttAccKernels(points.model, platform.gpu, 1).times_s(tokens).tolist()


def test_profile_source_takes_the_measured_all_reduce_above_one_gpu(tmp_path):
    """Llama-2-70B (h = 8192, FP16, 80 layers) on a profile with an NCCL table: 64 tokens all-reduce 64 x 8192 x 2 =
    2**20 bytes, a measured size of the tp = 2 table (the ring's time / 1.1), twice per layer; at tp = 1 no all-reduce
    and the table is not read (it has no tp = 1 rows)."""
    mlp = write_mlp_csv(tmp_path / "llama_mlp.csv", {(n, tp): {} for n in (64, 128) for tp in (1, 2)})
    nccl = _nccl_profile(tmp_path)
    overrides = ['gpu.cost_source="profile"', f'gpu.profile_path="{mlp}"', f'gpu.allreduce_profile_path="{nccl}"']
    two = GPUCostModel(run_spec("llama-2-70b", overrides, parallel={"tp": 2, "dp": 1}))
    assert two.fc_breakdown_s(64, 1)["all_reduce"] == pytest.approx(_ring_s(2**20) / 1.1 * 2 * 80, rel=1e-12)
    one = GPUCostModel(run_spec("llama-2-70b", overrides, parallel={"tp": 1, "dp": 1}))
    assert one.fc_breakdown_s(64, 1)["all_reduce"] == 0.0
    # attention from the roofline, as the roofline source has it
    roof = GPUCostModel(run_spec("llama-2-70b", ['gpu.cost_source="roofline"'], parallel={"tp": 2, "dp": 1}))
    assert two.decode_attention_time_s(4000) == roof.decode_attention_time_s(4000) > 0
    assert two.prefill_attention_time_s(512, 100) == roof.prefill_attention_time_s(512, 100) > 0
    mlp4 = write_mlp_csv(tmp_path / "llama4_mlp.csv", {(n, 4): {} for n in (64, 128)})
    four = ['gpu.cost_source="profile"', f'gpu.profile_path="{mlp4}"', f'gpu.allreduce_profile_path="{nccl}"']
    with pytest.raises(ConfigError) as error:  # the NCCL table has tp = 2 only: the message names the file
        GPUCostModel(run_spec("llama-2-70b", four, parallel={"tp": 4, "dp": 1}))
    assert str(error.value) == f"{nccl}: no within-node all-reduce measurements at tp=4; measured: [2]"


def test_the_layer_is_the_fc_sum_plus_the_other_kernels_on_both_sides(tmp_path):
    """With the calibrated model the norms and adds are predicted too (> 0): a layer is the FC sum plus them, on
    the model's side as on the measured side (2 x OTHER_MS per point), in point_rows and in summary_rows' layer
    row (the mean over a bucket of layer model / layer measured - 1)."""
    from l3sim.hw.gpu.profile_points import load_profile_points
    from l3sim.hw.gpu.validation import TOKEN_BUCKETS, kernel_predictions, point_rows, summary_rows

    platform, cost = _platform_and_cost("calibrated")
    points = load_profile_points(_mlp_profile(tmp_path))
    rows = point_rows(points, platform.gpu, cost)
    for tp in points.by_tp:
        other = kernel_predictions(points, tp, platform.gpu, cost)[["input_layernorm", "add"]].sum(axis=1).to_numpy()
        assert (other > 0).all()
        mine = [r for r in rows if r["tp"] == tp]
        assert len(mine) == other.size
        for row, extra in zip(mine, other):
            assert row["layer_model_s"] == pytest.approx(row["fc_model_s"] + extra, rel=1e-12)
            assert row["layer_measured_s"] == pytest.approx(row["fc_measured_s"] + 2 * OTHER_MS * 1e-3, rel=1e-9)
    for summary in summary_rows(points, platform.gpu, cost):
        if summary["operator"] != "layer":
            continue
        low, high = next((lo, hi) for label, lo, hi in TOKEN_BUCKETS if label == summary["tokens"])
        errors = [r["layer_model_s"] / r["layer_measured_s"] - 1 for r in rows
                  if r["tp"] == summary["tp"] and low <= r["tokens"] <= high]
        assert summary["n"] == len(errors) and summary["mean_err"] == pytest.approx(np.mean(errors), rel=1e-12)


def test_a_profile_lacking_kernels_is_named_with_every_missing_kernel(tmp_path):
    from l3sim.hw.gpu.measured import MeasuredLayerTimes
    from l3sim.hw.gpu.operators import layer_operators
    from l3sim.hw.profiles import load_vidur_mlp_csv

    path = write_mlp_csv(tmp_path / "llama_mlp.csv", {(64, 4): {}, (512, 4): {}})
    table = load_vidur_mlp_csv(path)
    table = table[~table["operator"].isin(["mlp_act", "mlp_down_proj"])]
    spec = roofline_spec("llama-2-70b")
    roofline = OperatorRoofline(layer_operators(spec.model, 4), Roofline.of(spec.platform.gpu, spec.gpu))
    with pytest.raises(ConfigError) as error:
        MeasuredLayerTimes(table, spec.model, 4, roofline, "llama_mlp.csv")
    assert str(error.value) == ("llama_mlp.csv: profile lacks kernel(s) mlp_act, mlp_down_proj "
                                "(time_stats.<kernel>.median)")


def test_validation_tables_are_indexed_by_token_count_and_by_point(tmp_path):
    """kernel_predictions lines up with the measured kernels (indexed by token count); all_reduce_points numbers
    its points 0..n-1 across TP degrees (one table, not one index per TP group)."""
    from l3sim.hw.gpu.profile_points import load_profile_points
    from l3sim.hw.gpu.validation import all_reduce_points, kernel_predictions

    platform, cost = _platform_and_cost("calibrated")
    points = load_profile_points(_mlp_profile(tmp_path))
    for tp, (tokens, measured) in points.by_tp.items():
        predicted = kernel_predictions(points, tp, platform.gpu, cost)
        assert predicted.index.tolist() == measured.index.tolist() == tokens.astype(int).tolist()
    lines = [",time_stats.all_reduce.min,time_stats.all_reduce.max,time_stats.all_reduce.mean,"
             "time_stats.all_reduce.median,time_stats.all_reduce.std,rank,num_workers,size,collective,"
             "devices_per_node,max_devices_per_node"]
    for i, (workers, size) in enumerate([(2, 2**20), (2, 2**24), (4, 2**20), (4, 2**24)]):
        lines.append(f"{i},0.1,0.1,0.1,0.1,0,0,{workers},{size},all_reduce,{workers},8")
    (tmp_path / "two_tp_all_reduce.csv").write_text("\n".join(lines) + "\n")
    table = all_reduce_points(tmp_path / "two_tp_all_reduce.csv", platform, cost)
    assert table.index.tolist() == [0, 1, 2, 3] and table["tp"].tolist() == [2, 2, 4, 4]


def test_attacc_compute_bounds_on_a_slow_gpu():
    """AttAcc's compute side, which never binds on a shipped GPU for these kernels: on a 1 GFLOP/s GPU
    (0.8 GFLOP/s after AttAcc's cap) it does, and each kernel's FLOPs and occupancy show."""
    from l3sim.hw.gpu.attacc import ATTACC_A100, _Kernels

    kernels = _Kernels(A100.model_copy(update={"peak_flops": 1e9}), ATTACC_A100, 2)
    flops_per_s = 0.8e9
    # Softmax of 10 score matrices of 4 x 100: 5 FLOPs per element on 10 of 108 SMs.
    assert kernels.softmax_s(4, 100, 10) == pytest.approx(5 * 4 * 100 * 10 / (flops_per_s * 10 / 108), rel=1e-12)
    # A layer norm of 4 rows of 100: 5 FLOPs per element on one thread block (1 of 108 SMs).
    assert kernels.norm_s(4, 100) == pytest.approx(5 * 400 / (flops_per_s / 108), rel=1e-12)
    # Three independent 64 x 256 x 128 products (a batched matmul: 3 blocks on 108 SMs).
    assert kernels._gemm_s(64, 128, 256, 3, False) == pytest.approx(
        2 * 64 * 128 * 256 * 3 / (flops_per_s * 3 / 108), rel=1e-12)


def test_a_profile_of_an_impossible_model_shape_is_named():
    from l3sim.hw.gpu.profile_points import profile_model

    shape = {"n_head": 6, "n_kv_head": 4, "n_embd": 768, "n_expanded_embd": 3072, "vocab_size": 1000,
             "use_gated_mlp": False}
    with pytest.raises(ConfigError) as error:
        profile_model(pd.DataFrame([shape]), "odd_mlp")
    assert str(error.value).startswith("invalid model shape of odd_mlp:")
    assert "num_heads (6) must be a multiple of num_kv_heads (4)" in str(error.value)


def test_measured_layer_times_need_the_layer_groups(tmp_path):
    from l3sim.hw.gpu.measured import MeasuredLayerTimes
    from l3sim.hw.profiles import load_vidur_mlp_csv

    medians_ms = {"attn_pre_proj": 0.3, "attn_post_proj": 0.15, "mlp_up_proj": 1.0, "mlp_act": 0.02,
                  "mlp_down_proj": 0.6}
    path = write_mlp_csv(tmp_path / "llama_mlp.csv", {(64, 4): medians_ms, (512, 4): medians_ms})
    spec = roofline_spec("llama-2-70b")
    head_only = OperatorRoofline((lm_head_operator(spec.model, 4),), Roofline.of(spec.platform.gpu, spec.gpu))
    with pytest.raises(ValueError) as error:
        MeasuredLayerTimes(load_vidur_mlp_csv(path), spec.model, 4, head_only, str(path))
    assert str(error.value) == f"roofline groups {head_only.groups} differ from {LAYER_GROUPS}"
