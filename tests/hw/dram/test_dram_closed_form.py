"""The engine against closed forms derived by hand from the timing parameters."""

from __future__ import annotations

import numpy as np
import pytest

from l3sim.hw.dram.commands import Cmd, StreamBuilder
from l3sim.hw.dram.engine import CommandStreamError, simulate

from dram_streams import mac_rounds


@pytest.mark.parametrize("preset", ["ddr4", "ddr5"])
def test_streaming_reads_of_one_row(preset, request):
    """ACT, then n reads of one row alternating bank groups: first data at tRCD + CL, then one burst per tCCD_S."""
    dram = request.getfixturevalue(preset)
    t = dram.timing
    n = 64
    b = StreamBuilder().add(Cmd.ACT, bank_group=[0, 1], bank=0, row=7)
    b.add(Cmd.RD, bank_group=np.arange(n) % 2, bank=0, row=7, col=np.arange(n) // 2)
    stream = b.build()
    s = simulate(stream, dram, 1, refresh=False)
    reads = s.issue_cycle[2:]
    # second ACT waits tRRD_S; the reads to bank group 0 may start tRCD after the first ACT
    assert s.issue_cycle[1] == max(t.tRRD_S, t.tCMD)
    assert reads[0] == t.tRCD
    assert reads[0] + t.CL == t.tRCD + t.CL  # first data
    # alternating groups: tCCD_S apart, and each group tCCD_L apart
    gaps = np.diff(reads)
    assert np.all(gaps[2:] == max(t.tCCD_S, (t.tCCD_L + 1) // 2 if t.tCCD_L > 2 * t.tCCD_S else t.tCCD_S))
    assert s.total_cycles == reads[-1] + t.CL + t.tBL
    # bytes: n bursts of a whole rank bus
    assert s.bytes_transferred["channel"] == n * dram.organisation.burst_bytes_per_rank


def test_reads_within_one_bank_group_are_tccd_l_apart(ddr4):
    t = ddr4.timing
    b = StreamBuilder().add(Cmd.ACT, row=3).add(Cmd.RD, row=3, col=np.arange(16))
    s = simulate(b.build(), ddr4, 1, refresh=False)
    assert np.all(np.diff(s.issue_cycle[1:]) == t.tCCD_L)
    # peak streaming from one bank group: burst bytes per tCCD_L
    assert s.issue_cycle[1] == t.tRCD


@pytest.mark.parametrize("preset", ["ddr4", "ddr5"])
def test_page_misses_to_one_bank_are_trc_bound(preset, request):
    """ACT-RD-PRE to one bank, each time a new row: one ACT per max(tRC, tRCD + tRTP + tRP, tRAS + tRP)."""
    dram = request.getfixturevalue(preset)
    t = dram.timing
    n = 50
    b = StreamBuilder()
    for r in range(n):
        b.add(Cmd.ACT, row=r).add(Cmd.RD, row=r).add(Cmd.PRE)
    s = simulate(b.build(), dram, 1, refresh=False)
    acts = s.issue_cycle[0::3]
    period = max(t.tRC, t.tRCD + t.tRTP + t.tRP, t.tRAS + t.tRP)
    assert period == t.tRC  # for these JEDEC bins the page-miss loop is tRC-bound
    assert np.all(np.diff(acts) == period)
    assert s.total_cycles == s.issue_cycle[-1] + t.tRP
    busy = s.busy_cycles.reshape(-1)
    assert busy[0] == n * (t.tRAS + t.tRP)  # open tRAS (PRE waits for it), then tRP precharging
    assert busy[1:].sum() == 0


def test_four_activate_window(ddr4):
    """Eight ACTs to different bank groups and banks: the fifth waits tFAW after the first."""
    t = ddr4.timing
    flat = np.arange(8)
    s = simulate(StreamBuilder().add(Cmd.ACT, bank_group=flat % 4, bank=flat // 4, row=0).build(), ddr4, 1,
                 refresh=False)
    expected = [0, t.tRRD_S, 2 * t.tRRD_S, 3 * t.tRRD_S]
    expected += [max(t.tFAW, expected[-1] + t.tRRD_S)]
    assert list(s.issue_cycle[:5]) == expected


def test_pim_mac_rounds(ddr4):
    """Row-round: 16 ACTs, MACs tCCD_L apart from tRCD after the last ACT, PREA tRTP after the last MAC."""
    t = ddr4.timing
    macs = 128
    s = simulate(mac_rounds(ddr4, 3, macs), ddr4, 4, refresh=False)
    per_round = 16 + macs + 1
    first = s.issue_cycle[:per_round]
    acts, mac, prea = first[:16], first[16:16 + macs], first[-1]
    # ACT spacing: tRRD_S across groups, tRRD_L within (flat order alternates groups), tFAW every fifth
    assert acts[4] - acts[0] >= t.tFAW and np.all(np.diff(acts) >= t.tRRD_S)
    assert mac[0] == acts[-1] + t.tRCD
    assert np.all(np.diff(mac) == t.tCCD_L)
    assert prea == max(mac[-1] + t.tRTP, acts.max() + t.tRAS)
    second_act = s.issue_cycle[per_round]
    assert second_act == prea + t.tRP
    # bank bytes: every MAC reads one column access in every bank of every chip
    assert s.bytes_transferred["bank"] == 3 * macs * 16 * 8 * 8
    assert s.bytes_transferred["channel"] == 0


def test_refresh_overhead_over_a_long_window(ddr4):
    """A long MAC stream slows by about tRFC / tREFI (plus re-opening the rows) with refresh on."""
    t = ddr4.timing
    stream = mac_rounds(ddr4, 400, 128)
    off = simulate(stream, ddr4, 1, refresh=False)
    on = simulate(stream, ddr4, 1, refresh=True)
    assert on.refreshes == pytest.approx(on.total_cycles / t.tREFI, abs=1)
    overhead = on.total_cycles / off.total_cycles - 1
    lower = t.tRFC / t.tREFI  # at least the refresh itself
    upper = (t.tRFC + t.tRP + t.tRAS + t.tRP + 16 * t.tRRD_L + t.tRCD) / (t.tREFI - t.tRFC)
    assert lower * 0.9 <= overhead <= upper


def test_refresh_leaves_a_rank_idle_for_trfc(ddr4):
    t = ddr4.timing
    b = StreamBuilder().add(Cmd.ACT, row=0).add(Cmd.RD, row=0, col=np.arange(128), count=128)
    reads_needed = (t.tREFI // t.tCCD_L) + 10
    b = StreamBuilder().add(Cmd.ACT, row=0)
    for _ in range(reads_needed // 128 + 1):
        b.add(Cmd.RD, row=0, col=np.arange(128))
    s = simulate(b.build(), ddr4, 1, refresh=True)
    ref = s.inserted_cycle[s.inserted.cmd == Cmd.REF]
    act = s.inserted_cycle[s.inserted.cmd == Cmd.ACT]
    assert len(ref) >= 1 and ref[0] >= t.tREFI
    assert act[0] == ref[0] + t.tRFC  # the row comes back as soon as the refresh ends
    later = s.issue_cycle[s.issue_cycle > ref[0]]
    assert later.min() == act[0] + t.tRCD


def test_host_reads_of_two_ranks_share_the_channel_bus(ddr4):
    """Reads alternating between two ranks need tBL + tRTRS between them; PIM_RD_RB of two ranks do not."""
    t = ddr4.timing
    b = StreamBuilder().add(Cmd.ACT, rank=[0, 1], row=0)
    b.add(Cmd.RD, rank=np.arange(16) % 2, row=0, col=np.arange(16) // 2)
    s = simulate(b.build(), ddr4, 2, refresh=False)
    assert np.all(np.diff(s.issue_cycle[3:]) == t.tBL + t.tRTRS)
    p = simulate(StreamBuilder().add(Cmd.PIM_RD_RB, rank=np.arange(16) % 2).build(), ddr4, 2, refresh=False)
    assert np.all(p.issue_cycle[1::2] - p.issue_cycle[::2] == t.tCMD)  # rank 1 does not wait for rank 0's bus
    assert np.all(np.diff(p.issue_cycle[::2]) == t.tBL)  # one burst per tBL on each rank bus
    assert p.bytes_transferred == {"channel": 0, "rank": 16 * 64, "bank": 0}


@pytest.mark.parametrize("bad,match", [
    (StreamBuilder().add(Cmd.RD, row=0), "does not have this row open"),
    (StreamBuilder().add(Cmd.ACT, row=0).add(Cmd.ACT, row=1), "already open"),
    (StreamBuilder().add(Cmd.ACT, row=0).add(Cmd.PIM_MAC), "every bank"),
    (StreamBuilder().add(Cmd.ACT, row=0).add(Cmd.REF), "precharged"),
    (StreamBuilder().add(Cmd.ACT, row=1 << 20), "field row"),
    (StreamBuilder().add(Cmd.ACT, rank=4), "field rank"),
])
def test_protocol_errors_name_the_command(ddr4, bad, match):
    with pytest.raises(CommandStreamError, match=match) as err:
        simulate(bad.build(), ddr4, 4, refresh=False)
    assert "command" in str(err.value)
