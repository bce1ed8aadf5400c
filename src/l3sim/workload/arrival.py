"""Arrival processes: when each request reaches the server.

The arrival string (``RunSpec.arrival``, ``--arrival``) is one of

- ``offline``: every request queued at t = 0 (the L3 paper's procedure);
- ``poisson:RATE``: a Poisson process of RATE requests/s; the first request
  arrives at 0 and the gaps are exponential with mean 1/RATE;
- ``gamma:RATE:CV``: a renewal process with gamma gaps of mean 1/RATE and
  coefficient of variation CV (CV = 1 is Poisson; CV > 1 is burstier);
- ``trace`` or ``trace:SCALE``: the trace's own timestamps, rebased so the
  earliest drawn request arrives at 0, multiplied by SCALE (default 1; 0.5
  replays twice as fast);
- ``closed:N``: a closed loop that keeps N requests in the system: N arrive at
  0 and each finish releases the next request at that instant. The times
  depend on the run, so :func:`arrival_times` gives 0 and the serving engine
  sets them (``l3sim.serving.arrivals``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from l3sim.errors import ConfigError
from l3sim.spec.numbers import check_float

ARRIVAL_FORMS = "offline | poisson:RATE | gamma:RATE:CV | trace[:SCALE] | closed:N"


@dataclass(frozen=True, slots=True)
class ArrivalProcess:
    """A parsed arrival string; ``rate_per_s`` and ``cv`` apply to renewal processes, ``scale`` to traces,
    ``in_flight`` (N) to a closed loop."""

    kind: str
    rate_per_s: float = 0.0
    cv: float = 1.0
    scale: float = 1.0
    in_flight: int = 0

    @property
    def needs_trace(self) -> bool:
        return self.kind == "trace"


#: Accepted ranges of the arrival parameters: wide enough for any study, narrow enough that the arrival
#: times and the gamma shape (CV**-2) stay well inside float range and precision.
RATE_RANGE = (1e-6, 1e9)
CV_RANGE = (1e-3, 1e3)
SCALE_RANGE = (1e-6, 1e6)


def _number(text: str, what: str, bounds: tuple[float, float], spec: str) -> float:
    return check_float(text, f"arrival {spec!r}: {what}", *bounds)


def parse_arrival(spec: str) -> ArrivalProcess:
    """Parse an arrival string; anything else is a ConfigError listing the accepted forms."""
    kind, *args = spec.strip().split(":")
    if kind == "offline" and not args:
        return ArrivalProcess("offline")
    if kind == "poisson" and len(args) == 1:
        return ArrivalProcess("poisson", rate_per_s=_number(args[0], "RATE (requests/s)", RATE_RANGE, spec))
    if kind == "gamma" and len(args) == 2:
        rate = _number(args[0], "RATE (requests/s)", RATE_RANGE, spec)
        return ArrivalProcess("gamma", rate_per_s=rate, cv=_number(args[1], "CV", CV_RANGE, spec))
    if kind == "trace" and len(args) <= 1:
        return ArrivalProcess("trace", scale=_number(args[0], "SCALE", SCALE_RANGE, spec) if args else 1.0)
    if kind == "closed" and len(args) == 1:
        count = args[0].strip()
        if not (count.isdigit() and len(count) <= 9 and int(count) >= 1):
            raise ConfigError(f"arrival {spec!r}: N (requests kept in the system) must be an integer >= 1, "
                              f"got {args[0]!r}")
        return ArrivalProcess("closed", in_flight=int(count))
    raise ConfigError(f"arrival {spec!r}: expected one of {ARRIVAL_FORMS}")


def arrival_times(
    process: ArrivalProcess, count: int, rng: np.random.Generator, trace_arrival_s: np.ndarray | None = None
) -> np.ndarray:
    """Arrival times (s) of ``count`` requests in order; ``trace_arrival_s`` is needed for ``trace``."""
    if process.kind in ("offline", "closed"):  # a closed loop's times are set by the engine as requests finish
        return np.zeros(count)
    if process.kind == "trace":
        if trace_arrival_s is None:
            raise ConfigError("arrival 'trace' needs a trace workload; a synthetic workload has no timestamps")
        if count == 0:
            return np.zeros(0)
        return (trace_arrival_s - trace_arrival_s.min()) * process.scale
    mean_gap_s = 1.0 / process.rate_per_s
    num_gaps = max(count - 1, 0)
    if process.kind == "poisson":
        gaps = rng.exponential(mean_gap_s, num_gaps)
    else:
        shape = process.cv**-2
        gaps = rng.gamma(shape, mean_gap_s / shape, num_gaps)
    return np.concatenate(([0.0], np.cumsum(gaps)))[:count]
