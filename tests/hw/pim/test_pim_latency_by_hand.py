"""The fast latency model pinned exactly: against the in-order timer, the rank PU and refresh by hand.

tests/hw/pim/test_pim_closed_form_oracle.py holds the closed form to 2 % of the in-order timer over a
wide grid; a one-cycle slip in a segment's formula hides inside that. Here, on small cases, the
context-dependent part must agree to the cycle, and the terms the engine does not time (the rank PU,
refresh) are derived by hand from the paper's mapping.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from l3sim.errors import ConfigError, NumericalError
from l3sim.hw.pim.latency import (_tail_bursts, attention_cost_coefficients, attention_latency, call_cycles,
                                  dram_cycles, dram_segments, kv_capacity_tokens_per_rank, mac_row_cycles,
                                  rank_pu_cycles, rank_read_cycles, refresh_cycles, serial_k_row_cycles,
                                  transfer_cycles)
from l3sim.hw.pim.system import PIMSystem
from l3sim.hw.pim.plan import plan_call
from l3sim.hw.pim.programs import program_segment
from l3sim.hw.pim.refresh import activation_exposure, closed_segment
from l3sim.spec.pim import PIMSpec, VARIANTS

from pim_inorder_oracle import program_cycles
from pim_ranks import PAPER_DDR4

# contexts around the row-round boundary of MHA (512 tokens per row of every bank: 128 bursts / 4 columns
# per token x 16 banks) and of GQA-8 (64 tokens: 128 / 32 x 16), a partial last row
# (512: the MHA rows exactly full), and past one and two softmax chunks of 2,048 tokens (pipelined tails)
CONTEXTS = (1, 63, 64, 65, 129, 512, 700, 2100, 4500)


# The paper's rank with tRAS long enough to outlast a row's column commands and tRCD shorter than the
# ACT series (and than tRP), so that the tRAS bound and the transfers' first-column rule set the pace.
SLOW_CLOSE = dataclasses.replace(PAPER_DDR4, tras=200, trc=222, trcd=10)
# Every timing distinct, so that a rule folded into another shows: tRRD_S (5) above tCCD_S (4) makes a
# transfer's later banks, whose ACTs come 5 cycles apart, set its bursts' pace (the closed form once
# assumed the first bank did, and was off by -47 to +19 cycles here).
DISTINCT = dataclasses.replace(PAPER_DDR4, trcd=21, trp=23, trtp=11, twr=25, cwl=15, trrd_s=5, trrd_l=9, tfaw=37,
                               tccd_l=9)


@pytest.mark.parametrize("geometry", [PAPER_DDR4, SLOW_CLOSE, DISTINCT, "ddr5-server"],
                         ids=["ddr4-3200", "long-tras-short-trcd", "every-timing-distinct", "ddr5-4800"])
@pytest.mark.parametrize("heads,gqa", [(4, 1), (16, 8), (12, 4)], ids=["mha", "gqa8", "gqa4"])
def test_closed_form_agrees_with_the_in_order_timer_to_the_cycle(geometry, heads, gqa):
    """The closed form and the timer time the same program; they differ only in where the program's end
    is counted (the last segment's close), which depends on the head set but not on the context or the
    variant. So model - timer is one constant per head set over every bank-level variant and context,
    and 0 for R-PIM (whose program is one run of reads): a one-cycle slip in any segment's duration
    changes the difference at some context, since contexts change how many of each segment run.
    DDR5-4800 as shipped is bus-bound with GQA (its pipelined units are timed chunk by chunk)."""
    if isinstance(geometry, str):
        from l3sim.hw.pim.system import load_pim_system

        geometry = load_pim_system(geometry).geometry
    offsets: dict[str, set[float]] = {}
    for variant in sorted(VARIANTS):
        for tokens in CONTEXTS:
            plan = plan_call(tokens, heads, gqa, VARIANTS[variant], geometry, PIMSpec())
            timed = program_cycles(program_segment(plan, geometry), geometry)
            offsets.setdefault(variant, set()).add(float(dram_cycles(plan, geometry)[0]) - timed)
    assert offsets.pop("rank-pim") == {0.0}
    assert len(set.union(*offsets.values())) == 1, offsets


# Ranks whose rank bus is slower than their MACs: more than tCCD_L / burst duration bursts go with each MAC.
# DDR4-3200 with tCCD_L 4 (one burst) and MHA at n_hc 8 (2 partial-score bursts per MAC); the paper's rank with
# GQA-8 at n_hc 2 (4 bursts of 4 cycles per MAC against tCCD_L 8); DDR5-4800 GQA-8 and GQA-4 as shipped (4 and
# 2 BL16 bursts of 8 cycles per K MAC against tCCD_L 12); DDR5-4800 GQA-8 with a tRCD too short to hide the
# bursts that go before a V row's first MAC.
SLOW_BUS = [("ddr4-tccd_l-4-mha-nhc8", dataclasses.replace(PAPER_DDR4, tccd_l=4), 1, 1, {"mapping": {"n_hc": 8}}),
            ("ddr4-gqa8-nhc2", PAPER_DDR4, 8, 8, {"mapping": {"n_hc": 2}}),
            ("ddr5-4800-gqa8", "ddr5-server", 8, 8, {}),
            ("ddr5-4800-gqa4", "ddr5-server", 8, 4, {}),
            # 1.5 bursts per K MAC (GQA-3): groups of 1 and 2 bursts, a fractional ratio
            ("ddr5-4800-gqa3", "ddr5-server", 6, 3, {}),
            # tRCD (12) shorter than the 4 bursts of S placed before a V row's first MAC (32 cycles)
            ("ddr5-4800-trcd-12-gqa8", ("ddr5-server", {"trcd": 12}), 8, 8, {})]


@pytest.mark.parametrize("geometry,heads,gqa,pim", [case[1:] for case in SLOW_BUS], ids=[case[0] for case in SLOW_BUS])
def test_a_bus_bound_pipeline_agrees_with_the_in_order_timer_to_the_cycle(geometry, heads, gqa, pim):
    """Where the bus is slower than the MACs a row's time depends on where its bursts fall (bursts before its
    first MAC overlap tRCD, those after its last MAC hold back its PREA, a run after a PREA may wait for the
    bus, the last chunk's bursts per MAC differ from row to row), so the pipelined unit is timed chunk by
    chunk in order: docs/pim.md, "Where the rank bus is slower than the MACs". Against the in-order timer
    (which the DRAM engine matches on these DDR4 ranks) the pipelined variant's offset is the unpipelined
    one's (whose rows follow each other serially) at every context: one row, a partial row, row-round
    boundaries, one, two and four softmax chunks with a partial last chunk. (Until 2026-12-07 the per-row
    rule max((m - 1) tCCD_L, b x burst - tCCD_L) stood here: 0 to 2.4 % over the timer.)"""
    from l3sim.hw.pim.system import load_pim_system

    if isinstance(geometry, tuple):  # a preset's rank with some timings changed
        geometry = dataclasses.replace(load_pim_system(geometry[0]).geometry, **geometry[1])
    g = load_pim_system(geometry).geometry if isinstance(geometry, str) else geometry
    spec = PIMSpec.model_validate(pim)

    def offset(variant: str, tokens: int) -> float:
        plan = plan_call(tokens, heads, gqa, VARIANTS[variant], g, spec)
        return float(dram_cycles(plan, g)[0]) - program_cycles(program_segment(plan, g), g)

    contexts = (1, 7, 63, 64, 65, 129, 512, 513, 700, 1025, 2049, 2100, 4097, 6200)
    offsets = {tokens: offset("l3", tokens) for tokens in contexts}
    assert set(offsets.values()) == {offset("no-pipeline", 700)}, offsets


def test_a_bus_bound_pipeline_with_chunks_of_whole_rows_agrees_with_the_in_order_timer():
    """DDR5-4800 GQA-8 with softmax chunks of 128 tokens (two rows of every bank): chunks split the rows
    unevenly, the last one of a partial row (65, 129, 193 tokens) or of one full row (192): model - timer
    stays the unpipelined offset."""
    from l3sim.hw.pim.system import load_pim_system

    g = load_pim_system("ddr5-server").geometry
    spec = PIMSpec.model_validate({"rank_pu": {"softmax_chunk_tokens": 128}})
    offsets = set()
    for variant, contexts in (("l3", (1, 64, 65, 128, 129, 192, 193, 1000)), ("no-pipeline", (193,))):
        for tokens in contexts:
            plan = plan_call(tokens, 8, 8, VARIANTS[variant], g, spec)
            offsets.add(float(dram_cycles(plan, g)[0]) - program_cycles(program_segment(plan, g), g))
    assert len(offsets) == 1, offsets


@pytest.mark.parametrize("geometry,heads,gqa", [(PAPER_DDR4, 12, 1), (PAPER_DDR4, 64, 8), (PAPER_DDR4, 32, 4),
                                                (DISTINCT, 16, 8), ("ddr5-server", 12, 1)],
                         ids=["ddr4-mha", "ddr4-gqa8", "ddr4-gqa4", "distinct-gqa8", "ddr5-mha"])
def test_the_chunk_timer_is_the_closed_form_where_the_bus_keeps_up(monkeypatch, geometry, heads, gqa):
    """Timing every pipelined unit chunk by chunk, bus-bound or not, changes nothing where the per-row closed
    form is exact: the same cycles and the same refresh exposure (each row open from its last ACT to its
    PREA, as ``row_segment`` counts it) at every context, partial rows and last chunks included."""
    from l3sim.hw.pim import latency
    from l3sim.hw.pim.system import load_pim_system

    g = load_pim_system(geometry).geometry if isinstance(geometry, str) else geometry
    plan = plan_call(np.arange(1, 9000, 29), heads, gqa, VARIANTS["l3"], g, PIMSpec())
    closed = latency.dram_segments(plan, g)
    monkeypatch.setattr(latency, "_bus_bound", lambda geometry, rows: np.ones(np.shape(rows.last_macs), dtype=bool))
    timed = latency.dram_segments(plan, g)
    assert np.array_equal(timed.cycles, closed.cycles)
    assert np.array_equal(timed.exposure, closed.exposure)


def test_transfer_waits_for_the_later_banks_act_when_trrd_s_exceeds_tccd_s():
    """Three writes over banks 0, 1, 2 (one per bank group) on DISTINCT: ACTs at 0, 5, 10 (tRRD_S 5); write
    j may go at ACT_j + tRCD 21 and 4 cycles (tCCD_S) after write j - 1: 21, 26, 31 (bank 2's ACT sets the
    pace, not bank 0's: from the first burst, 23 = max(21, 26 - 4, 31 - 8)). PREA after the write recovery
    31 + CWL 15 + burst 4 + tWR 25 = 75 (tRAS from the last ACT: 62), then tRP 23: 98 cycles. Reads: the
    last at 31, PREA at max(31 + tRTP 11, 62) = 62, + 23 = 85."""
    assert int(transfer_cycles(DISTINCT, 3, "WR").cycles) == 98
    assert int(transfer_cycles(DISTINCT, 3, "RD").cycles) == 85



# tRP short enough that the partial scores left after a softmax chunk's last MAC cost time: MHA reads 2
# bursts per MAC (256 per row of 128 MACs) and lags 4 columns (one token), so a chunk of whole rows
# leaves floor(3 x 256 / 128) = 6 bursts past its end: (6 - 1) x 4 + 2 = 22 cycles from the PREA, 12
# beyond tRP = 10 (with the paper's tRP of 22 they cost nothing, which hid the chunk arithmetic).
SHORT_TRP = dataclasses.replace(PAPER_DDR4, trp=10)
# chunks of 1,024 tokens: two MHA rows of every bank (512 tokens each)
TWO_ROW_CHUNKS = PIMSpec.model_validate({"rank_pu": {"softmax_chunk_tokens": 1024}})


def test_chunk_tails_past_trp_agree_with_the_in_order_timer():
    """Pipelined MHA on SHORT_TRP with two-row chunks: model - timer is one constant over contexts where
    the rows split unevenly into chunks. 1,025 tokens: 3 rows (2 full, the last one token: 4 MACs and 1
    burst), chunks of 2 + 1 rows; the last chunk's tail is 1 - ceil(1 x 1 / 4) = 0 bursts, where a chunk
    with a full row would leave 5 or 6 (so splitting 1.5 + 1.5 rows, or giving the last chunk more rows,
    shows). 3,072 tokens: 6 full rows, 3 chunks of 2, each leaving 6 bursts (a phantom empty 7th row would
    make the chunks 3 + 3 + 0 and drop one tail). 3,073: 7 rows in 4 chunks of 2 + 2 + 2 + 1 (the last one
    token)."""
    diffs = set()
    for tokens in (1, 513, 1024, 1025, 3072, 3073):
        plan = plan_call(tokens, 1, 1, VARIANTS["l3"], SHORT_TRP, TWO_ROW_CHUNKS)
        timed = program_cycles(program_segment(plan, SHORT_TRP), SHORT_TRP)
        diffs.add(float(dram_cycles(plan, SHORT_TRP)[0]) - timed)
    assert len(diffs) == 1, diffs


def test_tail_bursts_are_whole_bursts_by_hand():
    """Bursts left after the last of M MACs with n bursts spread over them and a lag of L columns:
    n - ceil((M - L + 1) x n / M), in whole bursts. A chunk of one full MHA row and a one-token row
    (M = 132, n = 257, L = 4): 257 - ceil(129 x 257 / 132) = 257 - ceil(251.2) = 5; two full rows
    (256, 512): 512 - ceil(253 x 512 / 256) = 6; no MACs: every burst; 2^31 + 1 MACs with 2^31 bursts and
    L = 2: 2^31 - ceil(2^62 / (2^31 + 1)) = 0 (the quotient is 2^31 - 1 + 1 / (2^31 + 1), which a float
    division rounds to 2^31 - 1)."""
    got = _tail_bursts(np.array([132, 256, 0]), np.array([257, 512, 7]), 4)
    assert got.tolist() == [5, 6, 7] and got.dtype == np.int64
    assert _tail_bursts(2**31 + 1, 2**31, 2).tolist() == 0


# tRCD long enough to outlast the ACT series: ACTs at 0, 4, 8, 12, 34, ..., 102, 106, 110, 114 (tRRD_S 4,
# tRRD_L 8, tFAW 34), so R-PIM's read j waits for its bank's ACT + 80, not for the last ACT.
LONG_TRCD = dataclasses.replace(PAPER_DDR4, trcd=80)


def test_rank_reads_wait_for_each_banks_trcd():
    """A round of 16 reads, one per bank: read j no earlier than ACT_j + 80 and 4 cycles (tCCD_S) after
    read j - 1: the first at max_j(ACT_j + 80 - 4j) = 102 + 80 - 48 = 114 + 80 - 60 = 134 (banks 12 and 15),
    the last at 194, PREA at max(194 + tRTP 12, 114 + tRAS 52) = 206, + tRP 22 = 228. The whole call
    agrees with the in-order timer to the cycle on rounds that read every bank (2 tokens: 16 reads; 100:
    800; 2,048: 8 full rounds). (A last round of fewer reads than banks is not pinned here.)"""
    assert int(rank_read_cycles(LONG_TRCD, 16).cycles) == 228
    for tokens in (1, 2, 100, 2048, 2049):
        plan = plan_call(tokens, 1, 1, VARIANTS["rank-pim"], LONG_TRCD, PIMSpec())
        timed = program_cycles(program_segment(plan, LONG_TRCD), LONG_TRCD)
        assert float(dram_cycles(plan, LONG_TRCD)[0]) == timed, tokens


@pytest.mark.parametrize("geometry", [LONG_TRCD, dataclasses.replace(DISTINCT, trcd=200)],
                         ids=["trcd-80", "trcd-200-trrd_s-5"])
def test_a_partial_rank_read_round_waits_for_the_banks_it_reads(geometry):
    """A round of n < 16 reads touches banks 0 .. n - 1 only, each read no earlier than its bank's ACT + tRCD,
    4 cycles (tCCD_S) after the one before, and after the last of the 16 ACTs. With tRCD 80 and the ACTs of
    the round above (banks 0-7 at 0, 4, 8, 12, 34, 38, 42, 46; the last at 114), 8 reads start at
    max(46 + 80 - 28 = 98, 114 + 1) = 115, the last at 143, PREA at max(143 + tRTP 12, 114 + tRAS 52) = 166,
    + tRP 22 = 188 cycles; waiting for banks 8-15 as well (first read at 134) gave 196. With tRCD 200 and
    tRRD_S 5 (every timing distinct) each later bank's ACT delays the first read: a round of 1 read and one
    of 2 differ. Found by a mutation test (2026-12-07); every count checked against the timer."""
    if geometry is LONG_TRCD:
        assert int(rank_read_cycles(LONG_TRCD, 8).cycles) == 188
    from l3sim.hw.pim.ops import seg, concat
    from l3sim.hw.pim.programs import open_all_banks

    for n in (1, 2, 3, 8, 15, 16, 17):
        j = np.arange(n)
        rounds = concat([open_all_banks(geometry, 0), seg("RD", bank=j % 16, row=0, col=j // 16), seg("PREA", row=0)])
        assert int(rank_read_cycles(geometry, n).cycles) == program_cycles(rounds, geometry), n


def test_the_partial_outputs_a_pass_reads_out_by_hand():
    """Per chip and pass, each of the 16 / v_banks (4) bank sets holds a partial output of every head of the pass
    for the head dimensions the chip stores, in FP32, read out in 8-byte bursts (x8 chips, BL8):
    GQA-8 (16 heads, N_hc 1: a chip holds all 128 dimensions; 8 heads per pass): 4 x 8 x 128 x 4 B = 16 KiB =
    2,048 bursts; MHA (12 heads, N_hc 8: 16 dimensions per chip; 1 head per pass): 4 x 1 x 16 x 4 B = 32 bursts."""
    gqa8 = plan_call(100, 16, 8, VARIANTS["l3"], PAPER_DDR4, PIMSpec())
    mha = plan_call(100, 12, 1, VARIANTS["l3"], PAPER_DDR4, PIMSpec())
    assert (gqa8.mapping.n_hc, gqa8.passes[0].heads, mha.mapping.n_hc, mha.passes[0].heads) == (1, 8, 8, 1)
    assert gqa8.passes[0].out_bursts == 4 * 8 * 128 * 4 // 8 == 2048
    assert mha.passes[0].out_bursts == 4 * 1 * 16 * 4 // 8 == 32


# The rank PU by hand (PIMSpec defaults: adder 16 partial values per tCK, softmax 4 scores per tCK, softmax
# chunks of 2,048 tokens). T = 5,000 tokens, so three chunks.
#  MHA, 4 heads: a KV head spreads over N_hc = 8 chips, so each of 4 x T scores is a sum of 8 partials:
#    adder 4T x 8 / 16 = 2T, softmax 4T / 4 = T: busy 3T; final: 3 chunks x 4 heads x 128 / 16 = 96.
#  GQA-8, 64 heads (8 KV heads, one chip each, N_hc = 1): adder 64T / 16 = 4T, softmax 64T / 4 = 16T:
#    busy 20T; final: 3 x 64 x 128 / 16 = 1536.
T = 5000
RANK_PU = [((4, 1), 3 * T, 96.0), ((64, 8), 20 * T, 1536.0)]


@pytest.mark.parametrize("head_set,busy,final", RANK_PU, ids=["mha", "gqa8"])
def test_rank_pu_cycles_by_hand(head_set, busy, final):
    heads, gqa = head_set
    plan = plan_call(T, heads, gqa, VARIANTS["l3"], PAPER_DDR4, PIMSpec())
    got_busy, got_final = rank_pu_cycles(plan, PIMSpec())
    assert got_busy.tolist() == [busy]
    assert got_final.tolist() == [final]
    assert got_busy.dtype == np.float64


@pytest.mark.parametrize("head_set,busy,final", RANK_PU, ids=["mha", "gqa8"])
def test_rank_pu_under_or_after_the_dram(head_set, busy, final):
    """Pipelined (l3), the PU works under the DRAM and the slower sets the pace; without pipelining it
    comes after. The final normalisation is at the end either way (one chunk without pipelining)."""
    heads, gqa = head_set
    for variant, chunks in (("l3", 3), ("no-pipeline", 1)):
        plan = plan_call(T, heads, gqa, VARIANTS[variant], PAPER_DDR4, PIMSpec())
        dram = float(dram_cycles(plan, PAPER_DDR4)[0])
        end = final / 3 * chunks
        want = max(dram, busy) + end if variant == "l3" else dram + busy + end
        assert float(call_cycles(plan, PAPER_DDR4, PIMSpec(), refresh=False)[0]) == want


def test_rank_pim_has_no_rank_pu_term():
    plan = plan_call([7, 9], 4, 1, VARIANTS["rank-pim"], PAPER_DDR4, PIMSpec())
    busy, final = rank_pu_cycles(plan, PIMSpec())
    assert busy.tolist() == [0.0, 0.0] and final.tolist() == [0.0, 0.0]


def test_refresh_by_default_is_the_expected_share():
    """Closed banks cost tRFC = 880 per REF; tREFI = 12,480. Over 11,600 busy cycles the expected
    refresh is 11,600 x 880 / (12,480 - 880) = 880 cycles (and nothing over no cycles); aligned with
    the schedule, the first REF falls due at 12,480 > 11,600: none; switched off: zeros, one per call."""
    program = closed_segment(np.array([11600, 0]))
    assert refresh_cycles(program, PAPER_DDR4).tolist() == [880.0, 0.0]
    assert refresh_cycles(program, PAPER_DDR4, "aligned").tolist() == [0.0, 0.0]
    off = refresh_cycles(program, PAPER_DDR4, False)
    assert off.shape == (2,) and off.tolist() == [0.0, 0.0]
    assert refresh_cycles(program, PAPER_DDR4, "expected").tolist() == [880.0, 0.0]


def test_aligned_refresh_at_the_boundary():
    """Aligned, REF k falls due at k x 12,480 and happens if the work done by then, k x 12,480 - (k - 1) x 880,
    is less than the call's busy cycles. Busy 24,080: REF 1 (12,480 done) happens; REF 2 would find
    24,960 - 880 = 24,080 done, the whole call: it does not. One REF: 880 cycles. One cycle more: two."""
    program = closed_segment(np.array([24080, 24081]))
    assert refresh_cycles(program, PAPER_DDR4, "aligned").tolist() == [880.0, 1760.0]


def test_unknown_refresh_mode_names_the_modes():
    with pytest.raises(ConfigError, match="refresh mode 'sometimes': expected True, False, 'expected' or 'aligned'"):
        refresh_cycles(closed_segment(np.array([10])), PAPER_DDR4, "sometimes")


def test_call_and_attention_latency_include_the_expected_refresh_by_default(system):
    plan = plan_call([100, 3000], 8, 8, VARIANTS["l3"], PAPER_DDR4, PIMSpec())
    default = call_cycles(plan, PAPER_DDR4, PIMSpec())
    assert default.tolist() == call_cycles(plan, PAPER_DDR4, PIMSpec(), refresh="expected").tolist()
    assert np.all(default > call_cycles(plan, PAPER_DDR4, PIMSpec(), refresh=False))
    latency = attention_latency(np.array([100, 3000]), 8, 8, "l3", system)
    assert latency.tolist() == attention_latency(np.array([100, 3000]), 8, 8, "l3", system, refresh="expected").tolist()
    assert np.all(latency > attention_latency(np.array([100, 3000]), 8, 8, "l3", system, refresh=False))


def test_no_variant_means_the_systems_own_features():
    """variant None takes spec.pim.features: on a system built without pipelining, the no-pipeline latency."""
    plain = PIMSystem(PAPER_DDR4, PIMSpec(features=VARIANTS["no-pipeline"]))
    assert attention_latency(3000, 8, 8, None, plain) == attention_latency(3000, 8, 8, "no-pipeline", plain)
    assert attention_latency(3000, 8, 8, None, plain) != attention_latency(3000, 8, 8, "l3", plain)


def test_head_counts_are_checked_before_they_are_split_over_ranks(system):
    """12 query heads in groups of 8 is no whole number of KV heads, even though the busiest of one rank
    would get a whole group; one MHA head is a valid call; ranks < 1 is refused."""
    with pytest.raises(ConfigError, match=r"heads \(12\) must be a positive multiple of gqa \(8\)"):
        attention_latency(100, 12, 8, "l3", system)
    with pytest.raises(ConfigError, match=r"ranks must be >= 1 \(got 0\)"):
        attention_latency(100, 8, 8, "l3", system, ranks=0)
    assert attention_latency(100, 1, 1, "l3", system) > 0


def test_plan_refuses_bad_heads_and_contexts():
    for heads, gqa in ((12, 8), (0, 1), (8, 0)):
        with pytest.raises(ConfigError, match=rf"heads \({heads}\) must be a positive multiple of gqa \({gqa}\)"):
            plan_call(100, heads, gqa, VARIANTS["l3"], PAPER_DDR4, PIMSpec())
    with pytest.raises(ConfigError, match="^context_tokens must all be >= 1$"):
        plan_call([5, 0], 8, 8, VARIANTS["l3"], PAPER_DDR4, PIMSpec())


def test_plan_fields_by_hand():
    """64 query heads in groups of 8: 8 KV heads, on both levels; a pass serves at most N_cmr query heads
    of a KV head, so with N_cmr = 3 a KV head's 8 take passes of 3, 3 and 2; without pipelining one softmax
    chunk per context; R-PIM reads nothing at bank level (zeros, one per context); 4-byte elements reach
    the mapping. (The program builder reads the same counts, so the in-order timer cannot check them.)"""
    pim = PIMSpec.model_validate({"bank_pu": {"macs_per_element": 3}})
    plan = plan_call([100, 200], 64, 8, VARIANTS["no-pipeline"], PAPER_DDR4, pim)
    rounds = -(-8 // plan.mapping.chip_groups)
    assert [(unit.heads, unit.repeat) for unit in plan.passes] == [(3, 2 * rounds), (2, rounds)]
    assert plan.kv_heads == 8 and plan.rank_read_bursts.tolist() == [0, 0]
    assert [unit.chunks.tolist() for unit in plan.passes] == [[1, 1], [1, 1]]
    # S written back per chip lane: tokens x heads of the pass x 2 B (FP16) in bursts of 8 B:
    # 100 x 3 x 2 / 8 = 75, 200 x 3 x 2 / 8 = 150; with 2 heads 50 and 100
    assert [unit.s_bursts.tolist() for unit in plan.passes] == [[75, 150], [50, 100]]
    # the rank PU adds the passes up: every one of the 64 query heads' T scores, N_hc partials each (the
    # 8 KV heads fill the rank's 8 chips in whole rounds: N_hc chips per head, 8 / N_hc heads at once)
    n_hc = plan.mapping.n_hc
    assert plan.mapping.chip_groups * n_hc == 8 and 8 % plan.mapping.chip_groups == 0
    busy, _ = rank_pu_cycles(plan, pim)
    assert busy.tolist() == [64 * t * (n_hc / 16 + 1 / 4) for t in (100, 200)]
    assert plan_call(100, 64, 8, VARIANTS["rank-pim"], PAPER_DDR4, PIMSpec()).kv_heads == 8
    wide = plan_call(100, 8, 8, VARIANTS["l3"], PAPER_DDR4, PIMSpec(), element_bytes=4)
    assert wide.mapping.element_bytes == 4


def test_kv_capacity_tokens_per_rank(system):
    """The paper's DDR4 rank: 8 chips x 16 banks x 2^18 rows x 1 KiB = 32 GiB = 34,359,738,368 B. At 1,000 B
    per token per layer and 3 layers on the rank: floor(34,359,738,368 / 3,000) = 11,453,246 tokens."""
    assert kv_capacity_tokens_per_rank(1000, 3, system) == 11_453_246


def test_cost_coefficients_are_the_secant_of_the_asked_for_call(system):
    """The coefficients reproduce attention_latency at both fit points, for a variant other than the
    system's, the KV heads split over two ranks and a smaller head dimension (each changes the latency)."""
    lo, hi = 256, 2048
    kwargs = dict(ranks=2, head_dim=64)
    fixed, per_token = attention_cost_coefficients(64, 8, "no-pipeline", system, fit_tokens=(lo, hi), **kwargs)
    t_lo, t_hi = attention_latency(np.array([lo, hi]), 64, 8, "no-pipeline", system, **kwargs)
    assert fixed + per_token * lo == pytest.approx(t_lo, rel=1e-12)
    assert fixed + per_token * hi == pytest.approx(t_hi, rel=1e-12)
    assert attention_latency(lo, 64, 8, "no-pipeline", system) != pytest.approx(t_lo, rel=1e-3)
    assert attention_latency(lo, 64, 8, "l3", system, **kwargs) != pytest.approx(t_lo, rel=1e-3)
    assert attention_latency(lo, 64, 8, "no-pipeline", system, ranks=2) != pytest.approx(t_lo, rel=1e-3)


def test_cost_coefficients_refuse_a_latency_that_does_not_grow(system):
    # the same context at both fit points: the latency does not grow between them
    with pytest.raises(NumericalError, match="not a positive time growing with the context; the DRAM timings"
                                             " or PIM settings are outside the range it computes in"):
        attention_cost_coefficients(8, 1, "l3", system, fit_tokens=(512, 512))


# Refresh exposure of one row segment (hw/pim/refresh.py): the ACT ramp's own, plus per open cycle (last ACT
# to PREA) the re-opening cost of its banks (steady_open_extra, pinned in test_pim_refresh_cost.py: 170 for
# 16 banks, 56 for one per group) plus how much later than the next column command the PREA may issue:
#   a MAC row: tRTP - tCCD_L = 12 - 8 = 4;  reads: tRTP - tCCD_S = 12 - 4 = 8;
#   writes: CWL + burst + tWR - tCCD_S = 16 + 4 + 24 - 4 = 40.
# The rows' last ACT: 114 for 16 banks in the program's order, 12 for one bank per group (0, 4, 8, 12).
# The PREA is tRP (22) before the segment's end (bursts = 0 in the serial row: nothing to drain).
EXPOSURE_CASES = [
    ("mac row", lambda: mac_row_cycles(PAPER_DDR4, 100), 16, 114, 170 + 4),
    ("mac row, short tRTP", lambda: mac_row_cycles(dataclasses.replace(PAPER_DDR4, trtp=3), 100), 16, 114, 170 + 0),
    ("serial row", lambda: serial_k_row_cycles(PAPER_DDR4, 100, 0), 16, 114, 170 + 4),
    ("R-PIM reads", lambda: rank_read_cycles(PAPER_DDR4, 100), 16, 114, 170 + 8),
    ("serial row, short tRTP", lambda: serial_k_row_cycles(dataclasses.replace(PAPER_DDR4, trtp=3), 100, 0), 16, 114,
     170 + 0),
    ("R-PIM reads, short tRTP", lambda: rank_read_cycles(dataclasses.replace(PAPER_DDR4, trtp=3), 100), 16, 114,
     170 + 0),
    ("read transfer", lambda: transfer_cycles(PAPER_DDR4, 40, "RD"), 4, 12, 56 + 8),
    ("write transfer", lambda: transfer_cycles(PAPER_DDR4, 40, "WR"), 4, 12, 56 + 40),
    # tRTP 3, below tCCD_S: a read's PREA is never later than the next column command could be, so + 0 (no
    # JEDEC DDR4/DDR5 part has that; a custom timing may)
    ("read transfer, short tRTP", lambda: transfer_cycles(dataclasses.replace(PAPER_DDR4, trtp=3), 40, "RD"), 4, 12,
     56 + 0),
]


@pytest.mark.parametrize("segment,banks,last_act,per_open_cycle", [case[1:] for case in EXPOSURE_CASES],
                         ids=[case[0] for case in EXPOSURE_CASES])
def test_refresh_exposure_of_a_row_by_hand(segment, banks, last_act, per_open_cycle):
    timed = segment()
    open_cycles = int(timed.cycles) - 22 - last_act
    assert open_cycles > 0
    assert int(timed.exposure) == activation_exposure(PAPER_DDR4, banks) + open_cycles * per_open_cycle


@pytest.mark.parametrize("trtp", [12, 3], ids=["trtp-12", "trtp-3-below-tccd_l"])
def test_bus_bound_exposure_is_each_rows_open_time_in_the_timer(trtp):
    """Refresh exposure of a bus-bound pipelined call (DDR4 with tCCD_L 4, MHA at N_hc 8), derived from the
    in-order timer's own issue cycles: every row (ACTs to PREA) contributes its ACT ramp's exposure plus, per
    cycle from its last ACT to its PREA, the re-opening cost of its banks (steady_open_extra) and the PREA's
    wait beyond the next column command: max(0, tRTP - tCCD_L) for MAC rows (8 with tRTP 12, 0 with tRTP 3),
    max(0, tRTP - tCCD_S) for read transfers, CWL + burst + tWR - tCCD_S for write transfers; the rank-bus
    bursts between rows are closed segments (no exposure)."""
    from pim_inorder_oracle import issue_cycles

    from l3sim.hw.pim.ops import CODE
    from l3sim.hw.pim.refresh import steady_open_extra

    g = dataclasses.replace(PAPER_DDR4, tccd_l=4, trtp=trtp)
    wait = {CODE["PIM_MAC"]: max(0, trtp - g.tccd_l), CODE["RD"]: max(0, trtp - g.tccd_s),
            CODE["WR"]: g.cwl + g.burst_cycles + g.twr - g.tccd_s}
    spec = PIMSpec.model_validate({"mapping": {"n_hc": 8}})
    for tokens in (1, 700, 2100):
        plan = plan_call(tokens, 1, 1, VARIANTS["l3"], g, spec)
        program = program_segment(plan, g)
        expected, acts, kind = 0, [], None
        for code, at in zip(program.cmd.tolist(), issue_cycles(program.cmd.tolist(), program.bank.tolist(), g)):
            if code == CODE["ACT"]:
                acts.append(at)
            elif code in wait and acts:
                kind = code
            elif code == CODE["PREA"] and acts:
                banks = len(acts)
                expected += activation_exposure(g, banks) + (at - acts[-1]) * (steady_open_extra(g, banks) + wait[kind])
                acts = []
        assert int(dram_segments(plan, g).exposure[0]) == expected, tokens
