"""Every per-event energy term of a DIMM-PIM attention call, pinned by hand arithmetic on a small program.

The program: one decode-attention call of a 2-head MHA layer (head_dim 128, FP16) over 16 context tokens
on the paper's DDR4-3200 rank (8 x8 chips, 16 banks in 4 groups, 1 KB rows = 128 bursts of 8 bytes per
chip, BL8 in 4 tCK of 0.625 ns, tRAS 52, tRP 22, tRFC 880, tREFI 12,480), for the l3 kernel (bank PUs,
pipelined softmax) and for rank-level PIM. The commands are counted by hand from the paper's layout
(docs/pim.md), the per-event energies from Micron TN-40-07 with currents chosen all distinct, and every
term of ``dimm_call_energies`` and of the run's background is checked against those numbers: a factor on
any one term (e.g. a doubled activation energy) fails here, not only a monotonicity property.
"""

from __future__ import annotations

import numpy as np
import pytest

from l3sim.experiments.energy_accounting import run_energy
from l3sim.hw.energy import dimm_call_energies
from l3sim.spec.energy import DDR4CurrentSpec, EnergySpec

from test_energy_model import metrics, tiny_spec

# Currents and energies all distinct, so that swapping two of them or scaling one changes some term.
CURRENTS = DDR4CurrentSpec(vdd_v=1.1, vpp_v=2.3, idd0_a=0.09, ipp0_a=0.007, idd2n_a=0.021, idd3n_a=0.037,
                           ipp3n_a=0.004, idd4r_a=0.23, idd4w_a=0.17, idd5b_a=0.29)
ENERGY = EnergySpec(ddr4=CURRENTS, ddr4_io_pj_per_bit=3.0, rank_bus_io_pj_per_bit=5.0, pim_mac_pj=1.7,
                    pim_inbank_read_fraction=0.4, rank_pu_static_w=0.11, gpu_static_w=70.0)

TCK = 0.625e-9
CHIPS = 8
RANK_BURST_BYTES = 64  # 8 chips x 8 bytes
# TN-40-07 by hand: tRC = tRAS + tRP = 74 tCK.
E_ACT = 1.1 * (0.09 * 74 * TCK - 0.037 * 52 * TCK - 0.021 * 22 * TCK) + 2.3 * (0.007 - 0.004) * 74 * TCK
E_READ_PER_BYTE = 1.1 * (0.23 - 0.037) * 4 * TCK / 8
E_WRITE_PER_BYTE = 1.1 * (0.17 - 0.037) * 4 * TCK / 8
BACKGROUND_W_PER_RANK = CHIPS * (1.1 * 0.037 + 2.3 * 0.004 + 1.1 * (0.29 - 0.037) * 880 / 12480)
RANKS = 64  # the paper's host: 16 channels x 4 ranks (docs/systems.md)

# ---- the host's share, the same for both kernels ------------------------------------------------------------
# In: q (2 heads x 256 B) and the new k and v (2 x 2 x 256 B) = 1,536 B = 24 bursts; out: 2 x 256 B = 8 bursts.
HOST_IN, HOST_OUT = 24, 8
# A host transfer opens one bank per bank group (4 ACTs for any transfer of <= 4 x 128 bursts).
HOST_ACTS = 4 + 4
CHANNEL_BYTES = (HOST_IN + HOST_OUT) * RANK_BURST_BYTES

# ---- l3: one head per round (N_hc = 8 chips per head), 2 rounds ---------------------------------------------
# A token's K slice: 256 B / 8 chips = 32 B = 4 bursts per chip; token t in bank t mod 16: one token per bank,
# so K opens one (partial) row in each of 16 banks and issues 4 PIM_MACs. V over 4 banks: 4 sets of banks, 4
# tokens per set, 1 burst each: one row of each of 16 banks, 4 PIM_MACs.
L3_ROUNDS = 2
L3_ACT = HOST_ACTS + L3_ROUNDS * (16 + 16)
L3_MACS_CMDS = L3_ROUNDS * (4 + 4)
# PIM_RD_RB per round: 16 FP32 scores of 8 B-bursts per chip = 8, plus the partial outputs: 1 column per bank
# x 4 FP16 elements x 16 banks = 64 FP32 = 32 bursts. PIM_WR_SB per round: q slice (4) + S (16 x 2 B = 4).
L3_RD_RB = L3_ROUNDS * (8 + 32)
L3_WR_SB = L3_ROUNDS * (4 + 4)
L3_PIM_READ_BYTES = L3_MACS_CMDS * 8 * 16 * CHIPS  # each PIM_MAC reads 8 B of every bank of every chip
L3_MACS = L3_PIM_READ_BYTES // 2  # FP16 elements x N_cmr = 1
# Rank bus: everything on the DQ pins that is not channel traffic (PIM_RD_RB, PIM_WR_SB, host RD and WR).
L3_RANK_BUS = (L3_RD_RB + L3_WR_SB + HOST_OUT + HOST_IN) * RANK_BURST_BYTES - CHANNEL_BYTES

# ---- rank-pim: the buffer-chip PU reads K and V of both heads: 2 x 2 x 16 x 256 B = 256 bursts ---------------
RANK_READS = 256
RANK_ACT = HOST_ACTS + 16  # the 256 reads fit one row-round of the 16 banks
RANK_MACS = RANK_READS * RANK_BURST_BYTES // 2
RANK_BUS = (RANK_READS + HOST_OUT + HOST_IN) * RANK_BURST_BYTES - CHANNEL_BYTES

PJ = 1e-12
EXPECTED = {
    "l3": {
        "activations": L3_ACT * CHIPS * E_ACT,
        "array_reads": HOST_OUT * RANK_BURST_BYTES * E_READ_PER_BYTE,
        "pim_inbank_reads": L3_PIM_READ_BYTES * E_READ_PER_BYTE * 0.4,
        "array_writes": HOST_IN * RANK_BURST_BYTES * E_WRITE_PER_BYTE,
        "pim_macs": L3_MACS * 1.7 * PJ,
        "channel_io": CHANNEL_BYTES * 8 * 3.0 * PJ,
        "rank_bus_io": L3_RANK_BUS * 8 * 5.0 * PJ,
    },
    "rank-pim": {
        "activations": RANK_ACT * CHIPS * E_ACT,
        "array_reads": (HOST_OUT + RANK_READS) * RANK_BURST_BYTES * E_READ_PER_BYTE,
        "pim_inbank_reads": 0.0,
        "array_writes": HOST_IN * RANK_BURST_BYTES * E_WRITE_PER_BYTE,
        "pim_macs": RANK_MACS * 1.7 * PJ,
        "channel_io": CHANNEL_BYTES * 8 * 3.0 * PJ,
        "rank_bus_io": RANK_BUS * 8 * 5.0 * PJ,
    },
}


@pytest.mark.parametrize("variant", ["l3", "rank-pim"])
def test_every_call_energy_term_by_hand(variant):
    got = dimm_call_energies(tiny_spec("l3"), ENERGY, [16], variant)
    assert set(got) == set(EXPECTED[variant])
    for term, joules in EXPECTED[variant].items():
        assert float(got[term][0]) == pytest.approx(joules, rel=1e-12, abs=1e-30), term


@pytest.mark.parametrize("system, variant", [("l3", "l3"), ("r-pim", "rank-pim")])
def test_run_energy_of_the_small_program_by_hand(system, variant):
    """A prompt of 15 tokens and 2 output tokens decodes once, over 16 tokens: one call per layer (2 layers).

    Background: GPU static power x 1 GPU x makespan + (DIMM standby and refresh + rank-PU static) x 64 ranks x
    makespan. Prefill attention: 15 x 16 / 2 causal pairs x 4 x q_size (256) x 2 layers FLOPs on the GPU.
    """
    makespan = 3.0
    result = run_energy(tiny_spec(system), metrics(2, makespan_s=makespan), ENERGY,
                        prompt_tokens=[15], output_tokens=[2])
    for term, joules in EXPECTED[variant].items():
        assert result.parts[f"decode_{term}"] == pytest.approx(2 * joules, rel=1e-12, abs=1e-30), term
    prefill = 15 * 16 / 2 * 4 * 256 * 2 * 1.09 * PJ
    assert result.parts["prefill_attention_compute"] == pytest.approx(prefill, rel=1e-12)
    assert result.attention_j == pytest.approx(2 * sum(EXPECTED[variant].values()) + prefill, rel=1e-12)
    assert result.parts["gpu_static"] == pytest.approx(70.0 * 1 * makespan, rel=1e-12)
    assert result.parts["dimm_background"] == pytest.approx((BACKGROUND_W_PER_RANK + 0.11) * RANKS * makespan,
                                                           rel=1e-12)
    assert result.background_j == pytest.approx(70.0 * makespan + (BACKGROUND_W_PER_RANK + 0.11) * RANKS * makespan,
                                                rel=1e-12)


def test_call_energy_scales_with_layers_and_histogram():
    """Two requests decoding over the same contexts count each call twice; contexts weight by their counts."""
    one = run_energy(tiny_spec("l3"), metrics(2), ENERGY, prompt_tokens=[15], output_tokens=[2])
    two = run_energy(tiny_spec("l3"), metrics(4), ENERGY, prompt_tokens=[15, 15], output_tokens=[2, 2])
    assert two.parts["decode_activations"] == pytest.approx(2 * one.parts["decode_activations"], rel=1e-12)
    assert np.isclose(one.parts["decode_activations"], 2 * L3_ACT * CHIPS * E_ACT, rtol=1e-12)


# ---- what mutation testing found unpinned (docs/testing.md, group energy) ----------------------------------
def test_every_negative_event_energy_is_named_in_one_message():
    """Currents below the standby current on every line: IDD0 < IDD3N = IDD2N (activation), IDD4R, IDD4W and
    IDD5B < IDD3N. The message names the four, in order, and nothing else."""
    from l3sim.errors import ConfigError
    from l3sim.hw.energy import ddr4_event_energies
    from test_energy_model import paper_geometry

    low = DDR4CurrentSpec(idd0_a=0.01, idd2n_a=0.05, idd3n_a=0.05, ipp0_a=0.0, ipp3n_a=0.001, idd4r_a=0.02,
                          idd4w_a=0.02, idd5b_a=0.02)
    message = ("energy.ddr4: currents give a negative energy for activation (IDD0 vs IDD3N/IDD2N, IPP0 vs IPP3N), "
               "read (IDD4R vs IDD3N), write (IDD4W vs IDD3N), refresh (IDD5B vs IDD3N)")
    with pytest.raises(ConfigError) as caught:
        ddr4_event_energies(low, paper_geometry())
    assert str(caught.value) == message


def test_an_event_energy_of_exactly_zero_is_accepted():
    """IDD4R = IDD4W = IDD5B = IDD3N: reads, writes and refresh cost nothing beyond standby (0 J, not < 0)."""
    from l3sim.hw.energy import ddr4_event_energies
    from test_energy_model import paper_geometry

    flat = DDR4CurrentSpec(vdd_v=1.0, vpp_v=2.0, idd3n_a=0.04, ipp3n_a=0.005, idd4r_a=0.04, idd4w_a=0.04,
                           idd5b_a=0.04)
    e = ddr4_event_energies(flat, paper_geometry())
    assert e.read_j_per_byte == 0.0 and e.write_j_per_byte == 0.0
    assert e.background_w_per_rank == pytest.approx(8 * (1.0 * 0.04 + 2.0 * 0.005), rel=1e-12)  # no refresh term


def test_decode_histogram_error_message_and_integral_floats():
    """Lengths that arrive as floats (a table column) count as the integers they hold; bad lengths get the
    whole message."""
    from l3sim.errors import ConfigError
    from l3sim.hw.energy import decode_histogram

    contexts, counts = decode_histogram(np.array([5.0, 2.0]), np.array([3.0, 2.0]))  # over 6, 7 and over 3
    assert contexts.tolist() == [3, 6, 7] and counts.tolist() == [1, 1, 1]
    assert contexts.dtype == counts.dtype == np.int64
    with pytest.raises(ConfigError) as caught:
        decode_histogram([1], [0])
    assert str(caught.value) == "prompt_tokens and output_tokens must be equal-length arrays of values >= 1"


def test_energy_study_row_by_hand():
    """The study's row: per-token FC, attention and background, the run's total and tokens, each part in J."""
    from l3sim.hw.energy import EnergyBreakdown

    parts = {"fc_compute": 1.5, "gpu_static": 10.0}
    row = EnergyBreakdown("l3", 4, 2.0, 6.0, 10.0, parts).to_dict()
    assert row == {"system": "l3", "energy_per_token_j": 4.5, "gpu_fc_j": 0.5, "attention_j": 1.5,
                   "background_j": 2.5, "total_j": 18.0, "output_tokens": 4, "fc_compute_j": 1.5,
                   "gpu_static_j": 10.0}
    empty = EnergyBreakdown("l3", 0, 2.0, 6.0, 10.0).to_dict()  # no tokens: per-token figures are NaN
    assert empty["total_j"] == 18.0 and empty["output_tokens"] == 0
    assert all(np.isnan(empty[key]) for key in ("energy_per_token_j", "gpu_fc_j", "attention_j", "background_j"))


@pytest.mark.parametrize("context", [512, 1024, 4096])
def test_inbank_reads_follow_the_models_head_dim(context):
    """4 heads of 64 (not the default 128): the bank PUs still read exactly K and V of every head at whole
    row-rounds, 2 x 4 x 64 x 2 bytes per token per layer."""
    from l3sim.spec.run import build_run_spec
    from test_energy_model import TINY_MODEL

    model = {**TINY_MODEL, "num_heads": 4, "num_kv_heads": 4, "head_dim": 64}
    spec = build_run_spec(platform="dgx-a100", model=model, workload="openr1", requests=4, system="l3")
    got = dimm_call_energies(spec, ENERGY, [context], "l3")["pim_inbank_reads"][0]
    assert got == pytest.approx(2 * 4 * 64 * 2 * context * E_READ_PER_BYTE * 0.4, rel=1e-12)


def test_call_energies_follow_the_runs_pim_mapping():
    """With a head on 4 chips (pim.mapping.n_hc = 4) both heads run in one round: 4 + 4 host ACTs and one
    row of each of the 16 banks for K and for V, 40 ACTs in all (72 with the default 8 chips, two rounds)."""
    from l3sim.spec.run import build_run_spec
    from test_energy_model import TINY_MODEL

    spec = build_run_spec(["pim.mapping.n_hc=4"], platform="dgx-a100", model=TINY_MODEL, workload="openr1",
                          requests=4, system="l3")
    got = dimm_call_energies(spec, ENERGY, [16], "l3")
    assert float(got["activations"][0]) == pytest.approx((HOST_ACTS + 16 + 16) * CHIPS * E_ACT, rel=1e-12)
    assert float(got["channel_io"][0]) == pytest.approx(EXPECTED["l3"]["channel_io"], rel=1e-12)  # same traffic
