"""Properties of the closed-form latency model and of the event counts (no engine needed)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l3sim.hw.pim import attention_cost_coefficients, attention_latency, event_counts
from l3sim.hw.pim.ops import CMD_NAMES
from l3sim.hw.pim.plan import plan_call
from l3sim.hw.pim.programs import program_segment
from l3sim.hw.pim.events import command_counts
from l3sim.spec.pim import VARIANTS

from l3sim.hw.pim.system import PIMSystem
from l3sim.spec.pim import PIMSpec

from pim_ranks import PAPER_DDR4  # tests/hw/pim/conftest.py

SYSTEM = PIMSystem(PAPER_DDR4, PIMSpec())  # hypothesis tests take no function-scoped fixtures

HEAD_SETS = [(12, 1), (64, 8), (16, 8), (7, 1), (32, 4)]
variants = st.sampled_from(sorted(VARIANTS))
head_sets = st.sampled_from(HEAD_SETS)
tokens = st.integers(1, 200_000)


@settings(max_examples=60, deadline=None)
@given(variants, head_sets, tokens, tokens)
def test_latency_monotone_in_context(variant, head_set, a, b):
    heads, gqa = head_set
    lo, hi = sorted((a, b))
    t = attention_latency(np.array([lo, hi]), heads, gqa, variant, SYSTEM)
    assert t[0] <= t[1]


@settings(max_examples=40, deadline=None)
@given(variants, head_sets, tokens, st.integers(1, 8), st.integers(1, 8))
def test_more_ranks_never_slower(variant, head_set, n, r1, r2):
    heads, gqa = head_set
    few, many = sorted((r1, r2))
    assert attention_latency(n, heads, gqa, variant, SYSTEM, ranks=many) <= attention_latency(
        n, heads, gqa, variant, SYSTEM, ranks=few)


@settings(max_examples=60, deadline=None)
@given(head_sets, tokens)
def test_ablation_order(head_set, n):
    """Each feature only removes work: l3 <= no-pipeline <= cpu-relayout."""
    heads, gqa = head_set
    t = {v: attention_latency(n, heads, gqa, v, SYSTEM) for v in VARIANTS}
    assert t["l3"] <= t["no-pipeline"] <= t["cpu-relayout"]


@settings(max_examples=40, deadline=None)
@given(variants, head_sets, tokens)
def test_latency_above_the_bandwidth_floor(variant, head_set, n):
    """No variant reads the KV cache faster than its PUs' peak: rank bus for R-PIM, every bank PU otherwise."""
    heads, gqa = head_set
    kv_bytes = 2 * n * (heads // gqa) * 128 * 2
    g = PAPER_DDR4
    peak = g.channel_bw_bytes_per_s if variant == "rank-pim" else g.bank_pu_bw_bytes_per_s * 128
    assert attention_latency(n, heads, gqa, variant, SYSTEM) >= kv_bytes / peak


def test_batch_equals_one_by_one(system):
    ctx = np.array([[1, 500], [4096, 131072]])
    batch = attention_latency(ctx, 12, 1, "l3", system)
    assert batch.shape == ctx.shape
    for idx in np.ndindex(ctx.shape):
        assert batch[idx] == attention_latency(int(ctx[idx]), 12, 1, "l3", system)


def test_coefficients_reproduce_long_contexts(system):
    fixed, per_token = attention_cost_coefficients(12, 1, "l3", system)
    ctx = np.array([8192, 32768, 100000])
    approx = fixed + per_token * ctx
    exact = attention_latency(ctx, 12, 1, "l3", system)
    assert np.all(np.abs(approx / exact - 1) < 0.01)


@settings(max_examples=80, deadline=None)
@given(variants, head_sets, st.integers(1, 9000))
def test_event_counts_are_the_programs_commands(variant, head_set, n):
    heads, gqa = head_set
    plan = plan_call(n, heads, gqa, VARIANTS[variant], PAPER_DDR4, SYSTEM.pim)
    built = program_segment(plan, PAPER_DDR4)
    counted = command_counts(plan, PAPER_DDR4)
    assert {k: int(v) for k, v in zip(CMD_NAMES, np.bincount(built.cmd, minlength=len(CMD_NAMES)))} == {
        k: int(v[0]) for k, v in counted.items()}


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["l3", "no-pipeline", "cpu-relayout"]), head_sets, tokens)
def test_bank_pus_read_the_kv_cache_as_laid_out(variant, head_set, n):
    """PIM reads = K and V as the paper lays them out (L3 paper, section IV), padding included, once per KV-head round.

    N_hc from the bubble-free rule with FP32 partials is 8 / gqa chips per KV head; a token's slice is
    256 / N_hc bytes per chip = 32 / N_hc bursts; K: token t in bank t mod 16, so ceil(n / 16) tokens per
    bank; V: over 4 banks, 4 sets of banks, ceil(n / 4) tokens per set, (32 / N_hc) / 4 bursts each. Every
    PIM_MAC reads 8 bytes from each of 16 banks x 8 chips.
    """
    heads, gqa = head_set
    ev = event_counts(n, heads, gqa, variant, SYSTEM)
    n_hc = 8 // gqa
    cols = 32 // n_hc
    rounds = -(-(heads // gqa) // (8 // n_hc))
    per_mac = 16 * 8 * 8
    expected = rounds * (-(-n // 16) * cols + -(-n // 4) * (cols // 4)) * per_mac
    assert ev["pim_read_bytes"] == expected
    assert ev["pim_read_bytes"] >= 2 * n * (heads // gqa) * 256  # every K and V byte at least once
    assert ev["macs"] == ev["pim_read_bytes"] // 2 * gqa  # N_cmr = gqa MACs per FP16 element
    assert ev["channel_bytes"] >= (2 * heads + 2 * (heads // gqa)) * 256  # q in, outputs back, new k and v


def test_cpu_relayout_moves_more_over_the_channel(system):
    l3 = event_counts(4096, 12, 1, "no-pipeline", system)
    cpu = event_counts(4096, 12, 1, "cpu-relayout", system)
    assert cpu["channel_bytes"] > l3["channel_bytes"]
    assert cpu["pim_read_bytes"] == l3["pim_read_bytes"]
