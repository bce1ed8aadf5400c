"""Where the engine's requests come from: fixed timestamps, or a closed loop that releases one per finish.

The engine asks an :class:`ArrivalSource` which requests have arrived by now
(``due``), when the next one is due (``next_time``, so a closed-form stretch
stops before it and an idle replica can jump to it), whether any are still to
come (``pending``, which also marks the steady window of the run, see
``metrics.py``), and tells it which requests finished (``finished``), which is
what a closed loop needs to release the next ones.

- :class:`TimedArrivals`: the table's ``arrival_s`` (offline, Poisson, gamma, trace).
- :class:`ClosedLoopArrivals` (``--arrival closed:N``): N requests in the system; each finish
  releases the next request (in table order) at that instant, which becomes its ``arrival_s``.
  With dp replicas the N places are dealt round-robin like the requests (replica r gets
  N // dp, plus one when r < N % dp), so N must be at least dp.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from l3sim.errors import ConfigError
from l3sim.serving.state import RequestTable
from l3sim.workload.arrival import parse_arrival


class ArrivalSource(Protocol):
    """What the engine asks about arrivals (module docstring)."""

    def due(self, now_s: float) -> list[int]:
        """Requests (table indices) that have arrived by ``now_s`` and were not handed out yet, in order."""
        ...

    def next_time(self) -> float | None:
        """When the next request not yet handed out arrives; None when none is scheduled."""
        ...

    def pending(self) -> bool:
        """Whether some request has not been handed out yet."""
        ...

    def finished(self, ids: np.ndarray, now_s: float) -> None:
        """Requests ``ids`` finished at ``now_s``."""
        ...


class TimedArrivals:
    """Requests arrive at the table's ``arrival_s`` (ties in table order)."""

    def __init__(self, arrival_s: np.ndarray) -> None:
        self._order = np.argsort(arrival_s, kind="stable")
        self._times = arrival_s[self._order]
        self._next = 0

    def due(self, now_s: float) -> list[int]:
        start = self._next
        self._next = int(np.searchsorted(self._times, now_s, side="right"))
        return self._order[start : self._next].tolist()

    def next_time(self) -> float | None:
        return float(self._times[self._next]) if self._next < self._times.size else None

    def pending(self) -> bool:
        return self._next < self._times.size

    def finished(self, ids: np.ndarray, now_s: float) -> None:
        """Nothing to do: arrival times are fixed."""


class ClosedLoopArrivals:
    """``in_flight`` requests at t = 0, then one more (in table order) at each finish; writes ``arrival_s``."""

    def __init__(self, table: RequestTable, in_flight: int) -> None:
        if in_flight < 1:
            raise ConfigError(f"a closed loop needs at least 1 request in the system, got {in_flight}")
        self._table = table
        self._released = min(in_flight, len(table))
        self._handed = 0
        table.arrival_s[: self._released] = 0.0

    def due(self, now_s: float) -> list[int]:
        start, self._handed = self._handed, self._released
        return list(range(start, self._released))

    def next_time(self) -> float | None:
        return float(self._table.arrival_s[self._handed]) if self._handed < self._released else None

    def pending(self) -> bool:
        return self._handed < len(self._table)

    def finished(self, ids: np.ndarray, now_s: float) -> None:
        end = min(self._released + int(ids.size), len(self._table))
        self._table.arrival_s[self._released : end] = now_s
        self._released = end


def arrival_source(arrival: str, table: RequestTable, replica: int, dp: int) -> ArrivalSource:
    """The source of replica ``replica`` of ``dp`` for the arrival string of the run."""
    process = parse_arrival(arrival)
    if process.kind != "closed":
        return TimedArrivals(table.arrival_s)
    if process.in_flight < dp:
        raise ConfigError(f"arrival {arrival!r}: a closed loop over {dp} replicas needs N >= {dp} "
                          "(each replica keeps its share of the N requests)")
    share = process.in_flight // dp + (replica < process.in_flight % dp)
    return ClosedLoopArrivals(table, share)
