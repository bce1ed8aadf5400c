"""FR-FCFS for host requests: legal schedules, row hits first, both backends identical."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from l3sim.hw.dram.checker import check
from l3sim.hw.dram.commands import Cmd, CommandStream, StreamBuilder
from l3sim.hw.dram.engine import CommandStreamError, simulate
from l3sim.hw.dram.controller import ControllerConfig


def requests(seed: int, n: int, channels: int, ranks: int, rows: int) -> CommandStream:
    rng = np.random.default_rng(seed)
    return CommandStream(cmd=np.where(rng.random(n) < 0.7, Cmd.RD, Cmd.WR), channel=rng.integers(channels, size=n),
                         rank=rng.integers(ranks, size=n), bank_group=rng.integers(4, size=n),
                         bank=rng.integers(4, size=n), row=rng.integers(rows, size=n), col=rng.integers(128, size=n))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**31), n=st.integers(1, 300), channels=st.integers(1, 2), ranks=st.integers(1, 4),
       rows=st.integers(1, 5), refresh=st.booleans())
def test_random_requests_pass_the_checker(ddr4, seed, n, channels, ranks, rows, refresh):
    stream = requests(seed, n, channels, ranks, rows)
    fast = simulate(stream, ddr4, ranks, policy="frfcfs", refresh=refresh)
    slow = simulate(stream, ddr4, ranks, policy="frfcfs", refresh=refresh, backend="python")
    assert np.array_equal(fast.issue_cycle, slow.issue_cycle) and fast.total_cycles == slow.total_cycles
    assert check(stream, fast, ddr4, ranks, policy="frfcfs") == []


def test_row_hits_are_served_first(ddr4):
    """Requests alternating between two rows of one bank: FR-FCFS opens each row once; in order needs one ACT each."""
    n = ControllerConfig().read_queue
    rows = np.arange(n) % 2
    s = simulate(CommandStream.of(Cmd.RD, row=rows, col=np.arange(n) // 2), ddr4, 1, policy="frfcfs", refresh=False)
    assert np.count_nonzero(s.inserted.cmd == Cmd.ACT) == 2
    served_first = np.argsort(s.issue_cycle, kind="stable")[: n // 2]
    assert set(rows[served_first]) == {0}
    b = StreamBuilder()
    for r, c in zip(rows, np.arange(n) // 2):
        b.add(Cmd.ACT, row=r).add(Cmd.RD, row=r, col=c).add(Cmd.PRE)
    in_order = simulate(b.build(), ddr4, 1, refresh=False)
    assert s.total_cycles < in_order.total_cycles / 4


def test_frfcfs_takes_requests_only(ddr4):
    with pytest.raises(CommandStreamError, match="RD/WR requests only"):
        simulate(CommandStream.of(Cmd.ACT), ddr4, 1, policy="frfcfs")
