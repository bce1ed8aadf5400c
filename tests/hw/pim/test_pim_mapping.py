"""Head mapping: the bubble-free N_hc against the paper's formula, and clear errors for mappings that do not fit."""

from __future__ import annotations

import math

import pytest

from l3sim.errors import ConfigError
from l3sim.hw.pim.mapping import bubble_free_n_hc_bound, head_mapping
from l3sim.spec.pim import PIMSpec, variant_features


def paper_bound(gqa: int, n_cmr: int, score_bytes: int) -> float:
    """L3 paper, section V: N_hc <= E_h B_rk ceil(N_gqa/N_cmr) / (B_bk N_bk N_gqa N_chips), scores as wide as elements
    (score_bytes = 2); a wider score moves score_bytes / 2 times the bytes over the rank bus."""
    e_h, b_rk, b_bk, n_bk, n_chips = 128, 25.6e9, 1.6e9, 16, 8
    return e_h * b_rk * math.ceil(gqa / n_cmr) / (b_bk * n_bk * gqa * n_chips) * 2 / score_bytes


@pytest.mark.parametrize("gqa,score_bytes,expected", [(1, 2, 16), (8, 2, 2), (1, 4, 8), (8, 4, 1)])
def test_bound_matches_paper_formula(ddr4, gqa, score_bytes, expected):
    bound = bubble_free_n_hc_bound(ddr4, gqa, score_bytes, ddr4.tccd_l, ddr4.burst_cycles)
    assert bound == pytest.approx(paper_bound(gqa, gqa, score_bytes))
    assert bound == pytest.approx(expected)


def test_auto_n_hc_is_the_papers_8_and_1_with_fp32_partials(ddr4):
    pim = PIMSpec()
    assert head_mapping(1, ddr4, pim).n_hc == 8
    assert head_mapping(8, ddr4, pim).n_hc == 1


def test_fp16_partials_would_allow_more_chips_than_a_rank_has(ddr4):
    pim = PIMSpec.parse({"bank_pu": {"accumulator_precision": "fp16"}})
    assert head_mapping(1, ddr4, pim).n_hc == 8  # bound 16, capped by the 8 chips
    assert head_mapping(8, ddr4, pim).n_hc == 2


@pytest.mark.parametrize("n_hc", [3, 16])
def test_n_hc_that_does_not_fit_names_the_field(ddr4, n_hc):
    with pytest.raises(ConfigError, match="pim.mapping.n_hc"):
        head_mapping(1, ddr4, PIMSpec.parse({"mapping": {"n_hc": n_hc}}))


def test_v_banks_must_divide_banks(ddr4):
    with pytest.raises(ConfigError, match="v_banks"):
        head_mapping(1, ddr4, PIMSpec.parse({"mapping": {"v_banks": 3}}))


def test_small_buffers_name_the_field(ddr4):
    with pytest.raises(ConfigError, match="shared_buffer_bytes"):
        head_mapping(8, ddr4, PIMSpec.parse({"bank_pu": {"shared_buffer_bytes": 1024}}))
    with pytest.raises(ConfigError, match="result_buffer_bytes"):
        head_mapping(8, ddr4, PIMSpec.parse({"bank_pu": {"result_buffer_bytes": 512}}))


def test_unknown_variant_and_field_are_config_errors():
    with pytest.raises(ConfigError, match="known: l3"):
        variant_features("l4")
    with pytest.raises(ConfigError, match="bank_pu.macs"):
        PIMSpec.parse({"bank_pu": {"macs": 2}})


def test_sram_must_hold_two_chunks_of_scores(ddr4):
    from l3sim.hw.pim.plan import plan_call

    pim = PIMSpec.parse({"rank_pu": {"sram_bytes": 512 * 1024}})
    plan_call(1000, 64, 8, variant_features("no-pipeline"), ddr4, pim)  # no chunks without pipelining
    with pytest.raises(ConfigError, match="sram_bytes"):
        plan_call(1000, 64, 8, variant_features("l3"), ddr4, pim)  # 2 x 2048 x 8 heads x 8 KV heads x 4 B = 1 MiB
