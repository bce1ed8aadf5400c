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
