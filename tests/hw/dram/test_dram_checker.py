"""Engine output against the independent checker; the two backends against each other."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from l3sim.hw.dram.checker import check
from l3sim.hw.dram.commands import Cmd, StreamBuilder, concatenate
from l3sim.hw.dram.engine import simulate

from dram_streams import mac_rounds, random_stream

FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _previous_on_channel(stream, schedule):
    """For each stream command: the issue cycle of the command issued just before it on its channel (or None)."""
    chans = np.concatenate([stream.channel, schedule.inserted.channel])
    times = np.concatenate([schedule.issue_cycle, schedule.inserted_cycle])
    prev = np.full(len(stream), -(10**9), np.int64)
    for ch in np.unique(chans):
        idx = np.flatnonzero(chans == ch)
        idx = idx[np.argsort(times[idx], kind="stable")]
        earlier = np.concatenate([[-(10**9)], times[idx[:-1]]])
        mine = idx < len(stream)
        prev[idx[mine]] = earlier[mine]
    return prev


@FAST
@given(seed=st.integers(0, 2**31), n=st.integers(1, 400), channels=st.integers(1, 2), ranks=st.integers(1, 4),
       preset=st.sampled_from(["ddr4", "ddr5"]), refresh=st.booleans())
def test_random_streams_pass_the_checker_and_backends_agree(request, seed, n, channels, ranks, preset, refresh):
    dram = request.getfixturevalue(preset)
    stream = random_stream(seed, n, dram, channels, ranks)
    fast = simulate(stream, dram, ranks, refresh=refresh, backend="numba")
    slow = simulate(stream, dram, ranks, refresh=refresh, backend="python")
    assert np.array_equal(fast.issue_cycle, slow.issue_cycle)
    assert np.array_equal(fast.inserted_cycle, slow.inserted_cycle)
    assert np.array_equal(fast.busy_cycles, slow.busy_cycles)
    assert fast.total_cycles == slow.total_cycles
    assert check(stream, fast, dram, ranks) == []


@FAST
@given(seed=st.integers(0, 2**31), preset=st.sampled_from(["ddr4", "ddr5"]))
def test_every_delayed_command_is_bound_by_a_rule(request, seed, preset):
    """The engine issues each command as early as allowed: one cycle earlier must break a rule the checker knows."""
    dram = request.getfixturevalue(preset)
    stream = random_stream(seed, 150, dram, 1, 2)
    schedule = simulate(stream, dram, 2, refresh=True)
    prev = _previous_on_channel(stream, schedule)
    delayed = np.flatnonzero((schedule.issue_cycle > prev + dram.timing.tCMD) & (schedule.issue_cycle > 0))
    assert len(delayed)
    for i in delayed[:: max(1, len(delayed) // 12)]:
        moved = schedule.issue_cycle.copy()
        moved[i] -= 1
        broken = dataclasses.replace(schedule, issue_cycle=moved)
        assert check(stream, broken, dram, 2), f"command {i} ({Cmd(int(stream.cmd[i])).name}) moved without a violation"


def test_structured_pim_program_passes(ddr4):
    stream = concatenate([mac_rounds(ddr4, 4, 128, rank=r) for r in range(4)])
    rd = StreamBuilder().add(Cmd.PIM_RD_RB, rank=np.arange(64) % 4).add(Cmd.PIM_WR_SB, rank=np.arange(64) % 4)
    stream = concatenate([stream, rd.build()])
    assert check(stream, simulate(stream, ddr4, 4), ddr4, 4) == []


def test_checker_names_the_broken_rule(ddr4):
    t = ddr4.timing
    stream = StreamBuilder().add(Cmd.ACT, row=0).add(Cmd.RD, row=0).add(Cmd.PRE).build()
    good = simulate(stream, ddr4, 1, refresh=False)
    bad = dataclasses.replace(good, issue_cycle=np.array([0, t.tRCD - 3, t.tRAS]))
    found = check(stream, bad, ddr4, 1)
    assert any("tRCD" in v.rule and v.required == t.tRCD and v.actual == t.tRCD - 3 for v in found)
    five = StreamBuilder().add(Cmd.ACT, bank_group=np.arange(5) % 4, bank=np.arange(5) // 4, row=0).build()
    squeezed = dataclasses.replace(simulate(five, ddr4, 1, refresh=False),
                                   issue_cycle=np.arange(5) * t.tRRD_L)
    assert [v.rule for v in check(five, squeezed, ddr4, 1)] == ["tFAW [five ACTs in one window, RANK]"]
    swapped = dataclasses.replace(good, issue_cycle=np.array([0, 100, 90]))
    rules = " ".join(v.rule for v in check(stream, swapped, ddr4, 1))
    assert "protocol" in rules and "FIFO" in rules
