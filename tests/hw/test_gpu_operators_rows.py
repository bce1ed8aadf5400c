"""The row-kernel description of every elementwise operator (``operators.py``), by hand from vLLM's launch
configurations: one thread block of min(width, 1024) threads per token row for the norm and SiLU-and-mul,
min(query heads x head_dim / 2, 512) for the rotary embedding; PyTorch's flat kernels (residual add, GELU)
have no row."""

from __future__ import annotations

from gpu_csv_helpers import run_spec

from l3sim.hw.gpu.operators import layer_operators, other_operators


def _by_name(model_name: str, tp: int) -> dict:
    model = run_spec(model_name).model
    return {op.name: op for op in layer_operators(model, tp) + other_operators(model, tp)}


def _row(op) -> tuple:
    return (op.row_threads, op.row_bytes, op.row_read_bytes, op.thread_bytes_in_flight)


def test_llama_2_70b_at_tp8_by_hand():
    ops = _by_name("llama-2-70b", 8)  # h 8192, FFN 28672 (gated), 64 query / 8 KV heads of 128, FP16
    # SiLU-and-mul: 3584 outputs a row; reads gate and up (2 x 3584 x 2 B), writes 3584 x 2 B; two 2-B loads a step
    assert _row(ops["ffn_act"]) == (1024, 21_504, 14_336, 4)
    # RMSNorm: 1024 threads; streams the 16 KiB row twice plus the weight and the output (4 x 16,384 B), reads
    # the row once from HBM, one 2-B load a step
    for name in ("input_norm", "post_norm"):
        assert _row(ops[name]) == (1024, 65_536, 16_384, 2)
    # rotary: 8 query heads x 64 pairs = 512 threads; reads and writes (8 + 1) x 128 x 2 B, reads half of it
    assert _row(ops["rotary"]) == (512, 4_608, 2_304, 4)
    assert _row(ops["residual_add"]) == (0, 0.0, 0.0, 0.0)
    assert ops["residual_add"].bytes_per_token == 3 * 8192 * 2


def test_small_head_counts_give_small_rotary_blocks_by_hand():
    # Llama-3-8B at TP8: 4 query heads x 64 pairs = 256 threads; 4 query and 1 KV head of 128 rotated
    ops = _by_name("llama-3-8b", 8)
    assert _row(ops["rotary"]) == (256, 2 * (4 + 1) * 128 * 2, (4 + 1) * 128 * 2, 4)
    assert ops["ffn_act"].row_threads == 1024  # 14336 / 8 = 1792 outputs a row, capped at 1024 threads
    assert _row(ops["input_norm"]) == (1024, 4 * 4096 * 2, 4096 * 2, 2)


def test_a_model_without_a_gated_ffn_has_a_flat_activation_by_hand():
    # GPT-175B's GELU is PyTorch's: reads and writes 4 x 12288 / 8 = 6144 values a token, no row
    ops = _by_name("gpt-175b", 8)
    assert _row(ops["ffn_act"]) == (0, 0.0, 0.0, 0.0)
    assert ops["ffn_act"].bytes_per_token == 2 * 6144 * 2
    assert "rotary" not in ops  # learned positions
