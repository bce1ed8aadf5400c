"""PIM attention arithmetic against float64 attention, within the derived error bounds."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l3sim.errors import ConfigError
from l3sim.functional.arithmetic import ARITHMETIC_OPTIONS, adder_tree, sequential_sum
from l3sim.functional.pim_attention import error_bound, pim_attention, reference_attention
from l3sim.functional.placement import KVCacheStore, KVLayoutSpec

CASES = {  # name: (layout, heads, kv_heads, head_dim)
    "MHA": (KVLayoutSpec(), 4, 4, 128),
    "GQA-4 N_hc=1": (KVLayoutSpec(chips_per_head=1), 32, 8, 128),
    "GQA-3 SmolLM2": (KVLayoutSpec(v_banks_per_vector=2), 9, 3, 64),
}


def _run(case, arith_name, tokens, seed, q_scale=2.0):
    layout, heads, kv_heads, hd = CASES[case]
    arith = ARITHMETIC_OPTIONS[arith_name]
    layout = layout.model_copy(update={"element_format": arith.operand_format})
    rng = np.random.default_rng(seed)
    store = KVCacheStore(layout, 1, kv_heads, hd, tokens)
    store.append(rng.standard_normal((1, kv_heads, tokens, hd)), rng.standard_normal((1, kv_heads, tokens, hd)))
    result = pim_attention(store, 0, rng.standard_normal((heads, hd)) * q_scale, arith)
    k, v = store.gather(0)
    exact = reference_attention(result.query, k, v, scale=1.0)
    bound = error_bound(result.query, k, v, arith, layout.chips_per_head, store.geo.v_bank_groups)
    return result, np.abs(result.output - exact), bound


@pytest.mark.parametrize("arith_name", ARITHMETIC_OPTIONS)
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("tokens", [1, 255, 1000])
def test_error_within_bound(case, arith_name, tokens):
    result, err, bound = _run(case, arith_name, tokens, seed=tokens)
    assert np.all(err <= bound)
    # the bound is not vacuous: relative to the output scale it is about
    # 2 (u_p + u_s) sum|q k| + n_seq u_acc to first order (docs/functional.md)
    scale = np.abs(result.output).max() + 1.0
    assert bound.max() / scale < {"fp16-fp32acc": 0.03, "bf16-fp32acc": 0.25, "fp16-fp16acc": 0.25}[arith_name]


@pytest.mark.slow
@pytest.mark.parametrize("arith_name", ARITHMETIC_OPTIONS)
@pytest.mark.parametrize("case", ["MHA", "GQA-3 SmolLM2"])
def test_error_within_bound_at_32k_context(case, arith_name):
    _, err, bound = _run(case, arith_name, 32768, seed=7)
    assert np.all(err <= bound)


@settings(max_examples=15, deadline=None)
@given(tokens=st.integers(1, 600), seed=st.integers(0, 2**32 - 1), scale=st.floats(0.01, 8.0),
       case=st.sampled_from(list(CASES)), arith_name=st.sampled_from(list(ARITHMETIC_OPTIONS)))
def test_error_within_bound_property(tokens, seed, scale, case, arith_name):
    _, err, bound = _run(case, arith_name, tokens, seed, q_scale=scale)
    assert np.all(err <= bound)


def test_fp32_accumulation_beats_fp16_accumulation():
    _, err32, _ = _run("MHA", "fp16-fp32acc", 2000, seed=3)
    _, err16, _ = _run("MHA", "fp16-fp16acc", 2000, seed=3)
    assert err32.max() < err16.max()


@pytest.mark.parametrize("case", CASES)
def test_gqa_macs_per_element_read_is_the_group_size(case):
    _, heads, kv_heads, hd = CASES[case]
    result, _, _ = _run(case, "fp16-fp32acc", 50, seed=1)
    assert result.score_macs / result.k_elements_read == heads // kv_heads  # N_cmr = N_gqa
    assert result.k_elements_read == kv_heads * 50 * hd


def test_single_token_attention_returns_its_value():
    store = KVCacheStore(KVLayoutSpec(), 1, 1, 128, 1)
    v = np.random.default_rng(0).standard_normal((1, 1, 1, 128)).astype(np.float16)
    store.append(v, v)
    out = pim_attention(store, 0, np.ones((1, 128)), ARITHMETIC_OPTIONS["fp16-fp32acc"]).output
    assert np.array_equal(out, v[0, 0].astype(np.float32))  # p = 1 exactly, 1 * v is exact


def test_reference_attention_matches_a_loop():
    rng = np.random.default_rng(5)
    q, k, v = rng.standard_normal((4, 8)), rng.standard_normal((2, 6, 8)), rng.standard_normal((2, 6, 8))
    for h in range(4):
        s = [sum(q[h, d] * k[h // 2, t, d] for d in range(8)) / math.sqrt(8) for t in range(6)]
        w = [math.exp(x - max(s)) for x in s]
        expect = [sum(w[t] * v[h // 2, t, d] for t in range(6)) / sum(w) for d in range(8)]
        assert np.allclose(reference_attention(q, k, v)[h], expect, rtol=1e-12, atol=1e-12)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(-1000, 1000), min_size=1, max_size=40))
def test_adder_tree_and_accumulator_are_exact_on_small_integers(values):
    x = np.array(values, dtype=np.float32)
    assert float(adder_tree(x, "fp32")) == sum(values)
    assert float(sequential_sum(x, 0, "fp32")) == sum(values)


def test_fp16_accumulator_rounds_every_partial_sum():
    x = np.array([2048.0, 1.0, 1.0, 1.0, 1.0], dtype=np.float16)
    # 2048 + 1 rounds back to 2048 in binary16 (spacing 2 there): a sequential FP16 accumulator stays at 2048
    assert float(sequential_sum(x, 0, "fp16")) == 2048.0
    assert float(sequential_sum(x, 0, "fp32")) == 2052.0


def test_mismatched_operands_and_chunks_are_config_errors():
    store = KVCacheStore(KVLayoutSpec(), 1, 1, 128, 4)
    store.append(np.ones((1, 1, 4, 128)), np.ones((1, 1, 4, 128)))
    with pytest.raises(ConfigError, match="bf16"):
        pim_attention(store, 0, np.ones((1, 128)), ARITHMETIC_OPTIONS["bf16-fp32acc"])
    with pytest.raises(ConfigError, match="chunk"):
        pim_attention(store, 0, np.ones((1, 128)), ARITHMETIC_OPTIONS["fp16-fp32acc"], chunk_tokens=6)
    with pytest.raises(ConfigError, match="num_heads"):
        pim_attention(store, 0, np.ones((1, 64)), ARITHMETIC_OPTIONS["fp16-fp32acc"])
