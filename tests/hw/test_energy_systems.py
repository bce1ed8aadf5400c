"""Energy of hbm-pim-ext and cpu-offload by hand, and every registered system has an energy model."""

from __future__ import annotations

import pytest

from l3sim.experiments.energy_accounting import run_energy
from l3sim.hw.energy import ddr4_event_energies
from l3sim.serving.systems import system_entries
from l3sim.spec.energy import EnergySpec

from test_energy_model import metrics, paper_geometry, tiny_spec

# The tiny model (test_energy_model.TINY_MODEL): 2 layers, 2 KV heads of 128, FP16, q_size 256.
KV_PER_TOKEN = 2 * 2 * 2 * 128 * 2  # K and V x layers x heads x head_dim x bytes
CONTEXT = 3 + 4  # prompt 2, output 3: decode steps attend over 3 and 4 tokens
ATTENTION_FLOPS = CONTEXT * 2 * 4 * 256  # 2 layers x 4 x q_size per context token
PREFILL_J = 3 * 2 * 4 * 256 * 1.09e-12  # prompt of 2: 3 causal pairs, on the GPU
RANKS = 64  # the paper's host: 16 channels x 2 DIMMs x 2 ranks
RANK_ROW_BYTES = 8 * 1024  # 8 x8 chips with a 1 KB page each


def test_every_registered_system_has_an_energy_model():
    assert [e.name for e in system_entries() if e.energy is None] == []


def test_hbm_pim_ext_attention_is_in_bank_reads_and_macs_without_dimm_background():
    e = EnergySpec(rank_pu_static_w=1.0)
    result = run_energy(tiny_spec("hbm-pim-ext"), metrics(3, makespan_s=2.0), e, prompt_tokens=[2],
                        output_tokens=[3])
    macs = ATTENTION_FLOPS / 2
    expected = CONTEXT * KV_PER_TOKEN * 1.2e-12 * 8 + macs * 2.0e-12 + PREFILL_J
    assert result.attention_j == pytest.approx(expected, rel=1e-12)
    assert result.background_j == pytest.approx(60.0 * 2.0, rel=1e-12)  # one GPU; no DIMMs, no rank PUs


def test_cpu_offload_streams_the_kv_bytes_from_the_dimms_and_computes_on_the_cpu():
    e = EnergySpec(rank_pu_static_w=1.0)  # cpu-offload has no rank PUs: must not be charged
    result = run_energy(tiny_spec("cpu-offload"), metrics(3, makespan_s=2.0), e, prompt_tokens=[2],
                        output_tokens=[3])
    dram = ddr4_event_energies(e.ddr4, paper_geometry())
    kv_bytes = CONTEXT * KV_PER_TOKEN
    parts = result.parts
    assert parts["decode_activations"] == pytest.approx(kv_bytes / RANK_ROW_BYTES * 8 * dram.activation_j, rel=1e-12)
    assert parts["decode_array_reads"] == pytest.approx(kv_bytes * dram.read_j_per_byte, rel=1e-12)
    assert parts["decode_channel_io"] == pytest.approx(kv_bytes * 4.0e-12 * 8, rel=1e-12)
    assert parts["decode_cpu_compute"] == pytest.approx(ATTENTION_FLOPS * 48.8e-12, rel=1e-12)
    assert result.attention_j == pytest.approx(
        sum(parts[k] for k in ("decode_activations", "decode_array_reads", "decode_channel_io",
                               "decode_cpu_compute")) + PREFILL_J, rel=1e-12)
    assert parts["dimm_background"] == pytest.approx(dram.background_w_per_rank * RANKS * 2.0, rel=1e-12)
    assert result.background_j == pytest.approx(60.0 * 2.0 + dram.background_w_per_rank * RANKS * 2.0, rel=1e-12)
