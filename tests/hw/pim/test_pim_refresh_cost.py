"""The refresh term: what a REF costs in each state the engine's controller can find a rank in."""

from __future__ import annotations

import numpy as np
import pytest

from l3sim.hw.pim.latency import mac_row_cycles, refresh_cost_cycles, transfer_cycles
from l3sim.hw.pim.refresh import activation_exposure, closed_segment, reopen_groups, steady_open_extra

from pim_ranks import DDR5_4800, PAPER_DDR4


def test_reopening_goes_bank_group_by_bank_group():
    # the engine numbers a rank's banks group-major; program bank i sits in group i mod 4
    assert reopen_groups(PAPER_DDR4, 6) == (0, 0, 1, 1, 2, 3)


def test_steady_open_cost_counts_the_engines_reopening_order():
    # DDR4-3200, 16 banks group by group: tRRD_L 8 within a group, tRRD_S 4 across, tFAW 34:
    # 0 8 16 24 | 34 42 50 58 | 68 76 84 92 | 102 110 118 126 -> last ACT at 126 (the program's
    # alternating order needs only 114); + tRP 22 + tRCD 22
    assert steady_open_extra(PAPER_DDR4, 16) == 22 + 126 + 22
    # DDR5-4800, 32 banks, 4 per group: 0 12 24 36, next group tFAW-bound at 44 ... -> 7 x 44 + 36 = 344
    # (the engine's trace of a REF inside a GQA-8 row-round shows exactly these ACTs)
    assert steady_open_extra(DDR5_4800, 32) == 40 + 344 + 40
    # one bank per group (a transfer): every ACT in another group, tRRD_S 4 then tFAW: 0 4 8 12
    assert steady_open_extra(PAPER_DDR4, 4) == 22 + 12 + 22
    assert steady_open_extra(PAPER_DDR4, 0) == 0


def test_closed_banks_cost_trfc_only():
    seg = closed_segment(np.array([500]))
    assert float(refresh_cost_cycles(seg, PAPER_DDR4)[0]) == PAPER_DDR4.trfc


def test_row_cost_is_bounded_by_its_states():
    """Averaged over a row-round, a REF costs between tRFC (banks closed) and the worst of its open states."""
    g = PAPER_DDR4
    row = mac_row_cycles(g, g.row_bursts)
    cost = float(refresh_cost_cycles(row, g))
    worst = g.trfc + g.trp + 126 + g.tras + (g.tras + g.trp)  # re-open + tRAS wait + a full ACT series again
    assert g.trfc < cost < worst
    # the steady phase (1,050 of 1,186 cycles) costs 22 + 880 + 126 + 22 + (tRTP - tCCD_L = 4): the mean is near it
    assert cost == pytest.approx(22 + 880 + 126 + 22 + 4, rel=0.03)
    assert activation_exposure(g, 16) > 0


def test_write_transfers_pay_the_write_recovery_before_the_prea():
    g = DDR5_4800
    rd = transfer_cycles(g, 64, "RD")
    wr = transfer_cycles(g, 64, "WR")
    # same bursts; a REF during the writes waits CWL + tBL + tWR after the last WR, not tRTP after a RD
    assert float(refresh_cost_cycles(wr, g)) > float(refresh_cost_cycles(rd, g))
