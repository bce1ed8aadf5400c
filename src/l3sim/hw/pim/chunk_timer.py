"""The in-order timer of a pipelined unit's softmax chunks where the rank bus is slower than the MACs.

``latency._bus_bound_unit`` uses it where the per-row closed form does not hold (docs/pim.md, "Where the
rank bus is slower than the MACs"). A module of its own because it runs compiled by numba, which the
mutation-testing driver cannot instrument (tools/mutation.py mutates latency.py and plan.py only).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np


def time_chunks(n_full, last_macs, last_bursts, row_macs, bursts_full, lag, act, trcd, tccd_l, tras, trtp, trp,
                burst):
    """Softmax chunks of row-rounds with ``with_bus_stream``'s bursts, timed in order, command by command.

    Chunk i: ``n_full[i]`` rows of ``row_macs`` MACs and ``bursts_full`` bursts, then a row of ``last_macs[i]``
    MACs and ``last_bursts[i]`` bursts (none if 0). Burst j goes after MAC floor(j x M / B) + lag - 1 of the
    chunk (before its first MAC, after the last ACT, if that is -1; past the last MAC of a row, before its
    PREA; past the chunk's last MAC, after its last PREA). Each row's ACTs start tRP after the previous PREA
    (at 0 for the first); its MACs wait tRCD after its last ACT (``act``) and tCCD_L after each other; a burst
    waits a burst duration after the previous one (the rank bus carries on from row to row); every command
    waits for the one before it; the PREA waits tRAS after the last ACT and tRTP after the last MAC. Returns
    per chunk: the sum over its rows of PREA - the row's first ACT, the bursts past its last MAC, and how
    many cycles past the cycle after its last PREA the rank bus is still busy. A chunk starts with the bus
    idle (the run of bursts and the tRP before it outlast the previous chunk's bursts). Plain Python that
    numba compiles (``chunk_timer``); the bus state between two MACs is just the last burst's cycle.
    """
    n = n_full.shape[0]
    prea_sums = np.zeros(n, dtype=np.int64)
    tails = np.zeros(n, dtype=np.int64)
    delays = np.zeros(n, dtype=np.int64)
    for i in range(n):
        macs = n_full[i] * row_macs + last_macs[i]
        bursts = n_full[i] * bursts_full + last_bursts[i]
        if macs == 0:
            continue
        # bursts j < before(x) are those with floor(j M / B) < x, i.e. j < x B / M
        before_first = min(bursts, max(0, -(-(1 - lag) * bursts // macs)))
        start = 0
        last_bus = -(1 << 40)
        prea = 0
        done = 0  # MACs of the chunk before this row
        rows = n_full[i] + (1 if last_macs[i] > 0 else 0)
        for r in range(rows):
            m = row_macs if r < n_full[i] else last_macs[i]
            prev = start + act
            if done == 0 and before_first > 0:
                last_bus = max(prev + 1, last_bus + burst) + (before_first - 1) * burst
                prev = last_bus
            mac = 0
            for k in range(m):
                mac = max(prev + 1, start + act + trcd) if k == 0 else max(prev + 1, mac + tccd_l)
                prev = mac
                x = done + k - lag + 2  # the bursts after MAC done + k: before(x) - before(x - 1)
                hi = min(bursts, max(0, -(-x * bursts // macs)))
                lo = min(bursts, max(0, -(-(x - 1) * bursts // macs)))
                if hi > lo:
                    last_bus = max(prev + 1, last_bus + burst) + (hi - lo - 1) * burst
                    prev = last_bus
            prea = max(prev + 1, start + act + tras, mac + trtp)
            prea_sums[i] += prea - start
            done += m
            start = prea + trp
        tails[i] = bursts - min(bursts, max(0, -(-(macs - lag + 1) * bursts // macs)))
        delays[i] = max(0, last_bus + burst - prea - 1)
    return prea_sums, tails, delays


@lru_cache(maxsize=1)
def chunk_timer():
    """``time_chunks`` compiled (once per process, cached on disk; numba is imported only when needed)."""
    import numba

    return numba.njit(cache=True)(time_chunks)
