"""Energy model: DDR4 event energies, decode work and run energy against hand calculations and invariants."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l3sim.errors import ConfigError
from l3sim.experiments.energy_accounting import result_energy, run_energy
from l3sim.hw.energy import decode_histogram, ddr4_event_energies
from l3sim.hw.pim.system import PIMSystem
from l3sim.spec.energy import DDR4CurrentSpec, EnergySpec
from l3sim.spec.run import build_run_spec

TINY_MODEL = {
    "name": "tiny", "num_layers": 2, "hidden_size": 256, "num_heads": 2, "num_kv_heads": 2, "head_dim": 128,
    "ffn_hidden_size": 512, "vocab_size": 1000, "parallel": {"tp": 1, "dp": 1},
}


def tiny_spec(system: str = "gpu-only"):
    return build_run_spec(platform="dgx-a100", model=TINY_MODEL, workload="openr1", requests=4, system=system)


def paper_geometry():
    spec = tiny_spec()
    return PIMSystem(spec.memory, spec.pim).geometry


# ---- DDR4 event energies (Micron TN-40-07 arithmetic, done by hand) -------------------------------------
def test_ddr4_event_energies_by_hand():
    currents = DDR4CurrentSpec(vdd_v=1.0, vpp_v=2.0, idd0_a=0.1, ipp0_a=0.01, idd2n_a=0.02, idd3n_a=0.04,
                               ipp3n_a=0.005, idd4r_a=0.2, idd4w_a=0.14, idd5b_a=0.3)
    e = ddr4_event_energies(currents, paper_geometry())
    tck = 0.625e-9
    t_rc, t_ras = 74 * tck, 52 * tck  # paper: tRC 74 = tRAS 52 + tRP 22
    act = 1.0 * (0.1 * t_rc - 0.04 * t_ras - 0.02 * (t_rc - t_ras)) + 2.0 * (0.01 - 0.005) * t_rc
    assert e.activation_j == pytest.approx(act, rel=1e-12)
    # BL8 on a x8 chip: 8 bytes in 4 tCK.
    assert e.read_j_per_byte == pytest.approx(1.0 * 0.16 * 4 * tck / 8, rel=1e-12)
    assert e.write_j_per_byte == pytest.approx(1.0 * 0.10 * 4 * tck / 8, rel=1e-12)
    # 8 chips; tRFC 880 / tREFI 12480 (the DDR4-3200 preset).
    background = 8 * (1.0 * 0.04 + 2.0 * 0.005 + 1.0 * 0.26 * 880 / 12480)
    assert e.background_w_per_rank == pytest.approx(background, rel=1e-12)


def test_ddr4_negative_event_energy_is_an_error():
    with pytest.raises(ConfigError, match="IDD4R"):
        ddr4_event_energies(DDR4CurrentSpec(idd4r_a=0.01), paper_geometry())


# ---- decode work -----------------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 40), st.integers(1, 40)), min_size=1, max_size=12))
def test_decode_histogram_matches_brute_force(lengths):
    prompts, outputs = map(np.array, zip(*lengths))
    contexts, counts = decode_histogram(prompts, outputs)
    expected: dict[int, int] = {}
    for p, n in lengths:
        for step in range(1, n):  # n - 1 decode steps after the prefill's token
            expected[p + step] = expected.get(p + step, 0) + 1
    assert dict(zip(contexts.tolist(), counts.tolist())) == expected


# ---- run energy: a hand-computed tiny run ----------------------------------------------------------------
def metrics(output_tokens: int, makespan_s: float = 2.0, iterations: int = 3) -> dict:
    return {"output_tokens": output_tokens, "makespan_s": makespan_s, "iterations": iterations, "oom": False}


def test_gpu_only_energy_by_hand():
    spec = tiny_spec()
    e = EnergySpec()
    result = run_energy(spec, metrics(3), e, prompt_tokens=[2], output_tokens=[3])
    # Decode steps attend over 3 and 4 tokens; KV per token = 2 (K,V) x 2 layers x 2 heads x 128 x 2 bytes.
    kv_per_token = 2 * 2 * 2 * 128 * 2
    context = 3 + 4
    hbm_j_per_byte = 3.9e-12 * 8
    attention_flops = context * 2 * 4 * 256  # 2 layers x 4 x q_size (256) per context token
    prefill_flops = 3 * 2 * 4 * 256  # prompt of 2: 2 x 3 / 2 = 3 causal pairs
    expected_attention = context * kv_per_token * hbm_j_per_byte + (attention_flops + prefill_flops) * 1.09e-12
    assert result.attention_j == pytest.approx(expected_attention, rel=1e-12)
    # FC: 2 prefill + 2 decode tokens; per token per layer QKV 2*256*768, out 2*256*256, FFN 2*256*512*2.
    per_token = 2 * (2 * 256 * 768 + 2 * 256 * 256 + 2 * 256 * 512 * 2)
    fc_flops = 4 * per_token + 3 * 2 * 256 * 1000  # LM head for the 3 output tokens
    params = 2 * (256 * 768 + 256 * 256 + 2 * 256 * 512 + 2 * 256) + 2 * 1000 * 256 + 256
    expected_fc = fc_flops * 1.09e-12 + 3 * params * 2 * hbm_j_per_byte
    assert result.gpu_fc_j == pytest.approx(expected_fc, rel=1e-12)
    assert result.background_j == pytest.approx(60.0 * 1 * 2.0, rel=1e-12)  # tp 1 x dp 1 GPU, 2 s
    assert result.energy_per_token_j == pytest.approx(result.total_j / 3)


def test_hbm_pim_attention_by_hand():
    result = run_energy(tiny_spec("hbm-pim"), metrics(3), EnergySpec(), prompt_tokens=[2], output_tokens=[3])
    context, kv_per_token = 7, 2 * 2 * 2 * 128 * 2
    macs = context * 2 * 2 * 256  # q.K^T and S.V: q_size MACs each per context token, 2 layers
    prefill = 3 * 2 * 4 * 256 * 1.09e-12
    expected = context * kv_per_token * 1.2e-12 * 8 + macs * 2.0e-12 + prefill
    assert result.attention_j == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("context", [512, 1024, 4096])
def test_l3_inbank_reads_are_the_kv_bytes_at_whole_row_rounds(context):
    """At whole row-rounds (512 tokens of an MHA head), the bank PUs read exactly K and V of every head."""
    from l3sim.hw.energy import dimm_call_energies

    spec = tiny_spec("l3")
    e = EnergySpec()
    per_call = dimm_call_energies(spec, e, [context], "l3")
    read_j = ddr4_event_energies(e.ddr4, paper_geometry()).read_j_per_byte
    kv_bytes_per_layer = 2 * 2 * 128 * 2 * context
    assert per_call["pim_inbank_reads"][0] == pytest.approx(kv_bytes_per_layer * read_j, rel=1e-12)


@pytest.mark.parametrize("system", ["gpu-only", "hbm-pim", "hbm-pim-ext", "cpu-offload", "l3", "r-pim"])
@settings(max_examples=15, deadline=None)
@given(prompt=st.integers(1, 300), output=st.integers(2, 3000), extra=st.integers(1, 500))
def test_more_output_tokens_cost_more_energy(system, prompt, output, extra):
    spec = tiny_spec(system)
    fewer = run_energy(spec, metrics(output), prompt_tokens=[prompt], output_tokens=[output])
    more = run_energy(spec, metrics(output + extra), prompt_tokens=[prompt], output_tokens=[output + extra])
    assert more.attention_j > fewer.attention_j
    assert more.gpu_fc_j > fewer.gpu_fc_j
    assert more.total_j > fewer.total_j


def test_dimm_systems_pay_dimm_background():
    spec = tiny_spec("l3")
    e = EnergySpec()
    result = run_energy(spec, metrics(3, makespan_s=10.0), e, prompt_tokens=[2], output_tokens=[3])
    per_rank = ddr4_event_energies(e.ddr4, paper_geometry()).background_w_per_rank
    assert result.background_j == pytest.approx(60.0 * 10.0 + 64 * per_rank * 10.0, rel=1e-12)  # 64 ranks


def test_errors_name_the_problem(monkeypatch):
    from dataclasses import replace

    from l3sim.serving.systems import SYSTEMS

    spec = tiny_spec()
    monkeypatch.setitem(SYSTEMS, "no-energy", replace(SYSTEMS["gpu-only"], name="no-energy", energy=None))
    with pytest.raises(ConfigError, match="no energy model for system 'no-energy'; known: gpu-only"):
        run_energy(tiny_spec("no-energy"), metrics(3), prompt_tokens=[2], output_tokens=[3])
    with pytest.raises(ConfigError, match="OOM"):
        run_energy(spec, {**metrics(3), "oom": True}, prompt_tokens=[2], output_tokens=[3])
    with pytest.raises(ConfigError, match="different runs"):
        run_energy(spec, metrics(4), prompt_tokens=[2], output_tokens=[3])
    with pytest.raises(ConfigError, match="makespan_s"):
        run_energy(spec, {**metrics(3), "makespan_s": math.nan}, prompt_tokens=[2], output_tokens=[3])


def test_result_and_redrawn_lengths_agree():
    """A RunResult's own request table and a re-draw of the spec's requests give the same energy."""
    from l3sim.serving import simulate

    spec = build_run_spec(platform="dgx-a100", model="llama-2-7b", workload="dolphin-short", requests=6,
                          parallel={"tp": 1, "dp": 1})
    result = simulate(spec)
    direct = result_energy(spec, result)
    redrawn = run_energy(spec, result.to_dict())
    assert direct.total_j == pytest.approx(redrawn.total_j, rel=1e-12)
    assert direct.output_tokens == result.output_tokens
