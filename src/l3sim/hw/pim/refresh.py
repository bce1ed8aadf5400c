"""What a REF costs the PIM programs, counted from the state the engine's controller finds the rank in.

The DRAM engine refreshes a rank when its next command would issue at or after
the REF's due cycle (docs/dram.md, "Controller policy and refresh"): it
precharges the rank (PREA, under the usual rules, only if a bank is open),
issues REF (tRP after the PREA, tRC after the last ACT), then re-opens the rows
that were open, one ACT per bank in bank order (bank group by bank group) under
tRRD_S / tRRD_L / tFAW, and resumes the program. So a REF costs:

- banks closed (a run of rank-bus bursts after a PREA, the tRP after it): tRFC;
- n banks open in the steady part of a row (MACs or transfers):
  tRP + tRFC + the re-opening ACTs + tRCD, plus the wait of the PREA for its
  rule after the last column command (tRTP, or the write recovery after a WR)
  beyond the command interval;
- k of a row's ACTs issued: the PREA waits tRAS after the k-th ACT, and after
  the REF the k re-opening ACTs and the row's remaining ACTs form one series.

Every segment of a program therefore carries, next to its duration, its
*exposure*: the integral over its cycles of what a REF due there costs beyond
tRFC. A REF that falls at a uniformly random cycle of the call costs
tRFC + exposure / cycles on average; ``latency.refresh_cycles`` turns that into
the refresh term.

Approximations (each worth a few cycles per REF, ~1 % of a REF's cost): the
PREA is taken to issue at the REF's due cycle, as if the next command were the
row's next column command paced at its interval; the few cycles between a row's
last ACT and its first MAC (the PREA then waits tRAS, not tRTP) and between
its last MAC and its PREA count as the steady part; REFs of the channel's idle
ranks (one command-bus slot each) are not counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from l3sim.hw.pim.geometry import RankGeometry


@lru_cache(maxsize=256)
def act_series_cycles(geometry: RankGeometry, groups: tuple[int, ...]) -> tuple[int, ...]:
    """Issue cycles of back-to-back ACTs to distinct banks in bank groups ``groups``, the first at 0.

    tRRD_S between different groups, tRRD_L within one, at most four ACTs per tFAW (JEDEC DDR4 4.3).
    """
    times: list[int] = []
    for i, group in enumerate(groups):
        t = 0
        for j, earlier in enumerate(times):
            t = max(t, earlier + (geometry.trrd_l if groups[j] == group else geometry.trrd_s))
        if i >= 4:
            t = max(t, times[i - 4] + geometry.tfaw)
        times.append(t)
    return tuple(times)


def program_groups(geometry: RankGeometry, count: int) -> tuple[int, ...]:
    """Bank groups of a program's ACTs to banks 0, 1, ... (bank group = bank mod groups, ``programs``)."""
    return tuple(i % geometry.bank_groups for i in range(count))


def reopen_groups(geometry: RankGeometry, count: int) -> tuple[int, ...]:
    """Bank groups of the engine's re-opening ACTs when banks 0 .. count - 1 were open: in bank order,
    i.e. group by group (the engine numbers a rank's banks group-major)."""
    return tuple(sorted(program_groups(geometry, count)))


def _last(times: tuple[int, ...]) -> int:
    return times[-1] if times else 0


@lru_cache(maxsize=64)
def steady_open_extra(geometry: RankGeometry, open_banks: int) -> int:
    """What a REF costs beyond tRFC when ``open_banks`` banks (0 .. open_banks - 1) are open and their row is
    in use: tRP, the re-opening ACTs (engine order), tRCD before the next column command."""
    g = geometry
    if open_banks == 0:
        return 0
    return g.trp + _last(act_series_cycles(g, reopen_groups(g, open_banks))) + g.trcd


@lru_cache(maxsize=64)
def activation_exposure(geometry: RankGeometry, banks: int) -> int:
    """Exposure (cycles x cycles beyond tRFC) of a row's ACT series over ``banks`` banks, first ACT to last.

    A REF due between ACT k - 1 and ACT k (k = 1 .. banks - 1) finds k banks open: the PREA waits tRAS after
    ACT k - 1, the REF max(tRP after it, tRC after the ACT); after tRFC the k re-opening ACTs and the row's
    remaining ACTs run as one series, and the first column command follows its last ACT by tRCD, where it
    would have followed ACT banks - 1 by tRCD.
    """
    g = geometry
    acts = act_series_cycles(g, program_groups(g, banks))
    total = 0
    for k in range(1, banks):
        series = act_series_cycles(g, reopen_groups(g, k) + program_groups(g, banks)[k:])
        cost = acts[k - 1] + max(g.tras + g.trp, g.trc) + g.trfc + series[-1] - acts[-1]
        total += (acts[k] - acts[k - 1]) * (cost - g.trfc)
    return total


@dataclass(frozen=True)
class Timed:
    """A program segment's cycles and its refresh exposure (see the module docstring), as arrays.

    Segments add; ``count * segment`` repeats one.
    """

    cycles: np.ndarray
    exposure: np.ndarray

    __array_ufunc__ = None  # ``counts * segment`` with a numpy array of counts comes to __rmul__

    def __add__(self, other: Timed) -> Timed:
        return Timed(self.cycles + other.cycles, self.exposure + other.exposure)

    def __rmul__(self, count) -> Timed:
        return Timed(count * self.cycles, count * self.exposure)

    def where(self, keep) -> Timed:
        """The segment where ``keep``, nothing elsewhere."""
        return Timed(np.where(keep, self.cycles, 0), np.where(keep, self.exposure, 0))


def closed_segment(cycles) -> Timed:
    """Cycles with every bank closed: a REF there costs tRFC, nothing more."""
    cycles = np.asarray(cycles, dtype=np.int64)
    return Timed(cycles, np.zeros(cycles.shape, dtype=np.int64))


def row_segment(geometry: RankGeometry, banks, last_act, prea, closed_cycles, prea_wait: int) -> Timed:
    """A row of ``banks`` banks: ACTs from cycle 0 to ``last_act``, open until the PREA at ``prea``, then
    ``closed_cycles`` (tRP or longer) to the next segment.

    ``prea_wait``: how much later than the next column command a PREA may issue (its rule after the last
    column command minus the command interval); it adds to every REF of the open phase. ``banks`` may be
    an array (transfers open one bank per group, fewer for short ones).
    """
    g = geometry
    banks = np.asarray(banks, dtype=np.int64)
    table = np.array([[activation_exposure(g, n) if n else 0, steady_open_extra(g, n) + prea_wait if n else 0]
                      for n in range(g.banks_per_chip + 1)], dtype=np.int64)
    open_cycles = np.asarray(prea, dtype=np.int64) - last_act
    cycles = np.asarray(prea, dtype=np.int64) + closed_cycles
    return Timed(cycles, table[banks, 0] + open_cycles * table[banks, 1])
