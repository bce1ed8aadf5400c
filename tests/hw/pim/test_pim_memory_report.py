"""``memory_report``: the paper's bandwidth figures out of the configuration arithmetic (L3 paper, section VI)."""

from __future__ import annotations

import numpy as np
import pytest

from l3sim.hw.pim import kv_capacity_tokens_per_rank, memory_report
from l3sim.spec.pim import PIMSpec


def test_peaks_reproduce_the_papers_figures(ddr4):
    r = memory_report(ddr4, PIMSpec(), engine=False)
    # 406 GB/s and 13.0 TB/s within 1 %; 1.6 TB/s is quoted to two digits (64 x 25.6 GB/s = 1.6384 TB/s)
    assert r["cpu_bw_bytes_per_s"] == pytest.approx(406e9, rel=0.01)
    assert float(f"{r['rank_pim_bw_bytes_per_s']:.2g}") == 1.6e12
    assert r["bank_pim_bw_bytes_per_s"] == pytest.approx(13.0e12, rel=0.01)
    # and exactly the arithmetic: 16 x 25.6 GB/s, 64 x 25.6 GB/s, 8 B / 5 ns x 16 x 8 x 64
    assert r["cpu_bw_bytes_per_s"] == pytest.approx(16 * 25.6e9)
    assert r["rank_pim_bw_bytes_per_s"] == pytest.approx(64 * 25.6e9)
    assert r["bank_pim_bw_bytes_per_s"] == pytest.approx(8 / 5e-9 * 16 * 8 * 64)
    assert r["capacity_bytes"] == 2 * 2**40
    assert (r["n_hc_mha"], r["n_hc_gqa8"]) == (8, 1)


def test_streaming_bandwidth_pays_for_activation_and_refresh(ddr4):
    r = memory_report(ddr4, PIMSpec(), engine=False)
    # 64 row-rounds of 1,186 cycles (16 ACTs under tFAW end at 114, tRCD 22, 127 x tCCD_L, tRTP 12, tRP 22),
    # 1,024 of them MAC cycles; REFs (every 12,480 cycles) cost at least tRFC = 880 and at most closing,
    # refreshing and re-opening every bank the engine's way (bank order, 126 cycles; see
    # test_pim_refresh_cost.py) plus tRAS: 22 + 880 + 126 + 52 = 1,080; 6 of them either way
    work = 64 * 1186
    for cost in (880, 1080):
        assert sum(1 for k in range(1, 20) if k * 12480 - (k - 1) * cost < work) == 6
    peak = r["bank_pim_bw_bytes_per_s"] * 64 * 1024
    assert peak / (work + 6 * 1080) <= r["effective_bank_pim_bw_model_bytes_per_s"] <= peak / (work + 6 * 880)


@pytest.mark.slow
def test_streaming_bandwidth_model_matches_the_engine():
    pytest.importorskip("l3sim.hw.dram.engine")
    from l3sim.hw.pim.system import load_pim_system

    r = memory_report(load_pim_system("dgx-a100-l3").memory, PIMSpec(), engine=True)
    assert r["effective_bank_pim_bw_model_bytes_per_s"] == pytest.approx(r["effective_bank_pim_bw_bytes_per_s"], rel=0.005)


def test_kv_capacity_per_rank(system):
    per_token_layer = 2 * 96 * 128 * 2  # GPT-175B, all heads, K and V in FP16
    layers = 24  # 96 layers over the 4 ranksets
    rank_bytes = 8 * 16 * 2**18 * 1024
    assert kv_capacity_tokens_per_rank(per_token_layer, layers, system) == rank_bytes // (per_token_layer * layers)


def test_layers_interleave_over_the_four_ranksets(system):
    from l3sim.hw.pim import max_layers_per_rank, rankset_of_layers

    sets = rankset_of_layers(96, system)
    assert list(np.bincount(sets)) == [24, 24, 24, 24]  # GPT-175B: 96 layers, 16 ch x 4 ranks -> 4 ranksets
    assert max_layers_per_rank(80, system) == 20
    assert max_layers_per_rank(81, system) == 21


def test_the_memory_preset_is_the_papers_host():
    pytest.importorskip("l3sim.spec.dram")
    from l3sim.hw.pim.system import load_pim_system

    from pim_ranks import PAPER_DDR4

    assert load_pim_system("dgx-a100-l3").geometry == PAPER_DDR4
