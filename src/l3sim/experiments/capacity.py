"""Capacity under latency SLOs: the highest request rate at which a system still meets them.

The search (docs/serving.md, "Capacity search"):

1. **Saturation estimate.** One offline run of the probe's requests gives the system's steady throughput;
   r_sat = steady output tokens/s / mean output tokens per request is the rate beyond which no queue is
   stable. The bracketing starts there.
2. **Exponential bracketing.** A rate that meets the SLOs is doubled until one violates (at most
   ``max_doublings`` times). A rate that meets in a probe that is not steady (below) ends the search as
   ``unsaturated``: the request budget arrives faster than requests complete, so higher rates only look
   like a burst of the same requests and the budget cannot saturate the system (so does running out of
   doublings); the capacity is then at least that rate. A rate
   that violates is halved until one meets (at most ``max_halvings`` times; if none meets, the outcome is
   ``no-rate``: "no rate meets the SLO", which is an answer, not an error).
3. **Bisection** at the geometric mid-point of the bracket [lo meets, hi violates] until
   hi / lo - 1 <= ``rel_tol``; the capacity is lo.

A **probe** at rate r serves ``requests`` requests with the chosen arrival process at rate r, once per
seed (seeds 0 .. ``seeds`` - 1). Only requests arriving inside the measurement window count: the first
``warmup_fraction`` of the arrival span is the warm-up (the system starts empty, so early requests see
too little load), the last ``cooldown_fraction`` the cool-down (arrivals stop, so the batch drains). The
SLOs are judged on the window (``l3sim.serving.slo``, token gaps of the measured requests only). The
probe meets the SLOs when every seed does (a conservative verdict: the seed-to-seed spread is reported
beside it). A probe is ``steady`` when its window is at least as long as the mean end-to-end latency of
its measured requests: the requests in the system turned over at least once inside it; a capacity whose
probe is not steady is flagged (use more requests).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np

from l3sim.errors import ConfigError

#: Outcomes of a search.
FOUND, NO_RATE, UNSATURATED = "found", "no-rate", "unsaturated"
#: Systems whose KV cache lives in the host's DIMMs (docs/systems.md): their DIMMs count in the cost figures.
DIMM_SYSTEMS = ("l3", "r-pim", "cpu-offload")


@dataclass(frozen=True)
class SearchSettings:
    """The knobs of a capacity search (module docstring); defaults chosen so that an L3 GPT-175B OpenR1
    search takes under a minute on two cores (docs/performance.md) while its probes reach steady state."""

    requests: int = 200
    seeds: int = 2
    rel_tol: float = 0.1
    warmup_fraction: float = 0.2
    cooldown_fraction: float = 0.1
    max_doublings: int = 6
    max_halvings: int = 8

    def __post_init__(self) -> None:
        if self.requests < 10:
            raise ConfigError(f"a capacity probe needs at least 10 requests, got {self.requests}")
        if self.seeds < 1:
            raise ConfigError(f"a capacity probe needs at least 1 seed, got {self.seeds}")
        if not 0 < self.rel_tol < 1:
            raise ConfigError(f"the relative tolerance must lie in (0, 1), got {self.rel_tol}")
        if not (self.warmup_fraction >= 0 and self.cooldown_fraction >= 0
                and self.warmup_fraction + self.cooldown_fraction < 1):
            raise ConfigError("warm-up and cool-down fractions must be >= 0 and leave part of the arrivals to measure")


@dataclass(frozen=True)
class ArrivalKind:
    """The arrival process of the probes: ``poisson``, ``gamma:CV`` or ``trace`` (the trace's own
    inter-arrival pattern, its times scaled so that the mean rate of the seed-0 draw is the probe's)."""

    kind: str
    cv: float = 1.0

    def arrival(self, rate: float, trace_rate: float | None = None) -> str:
        """The RunSpec arrival string of a probe at ``rate`` req/s (``trace_rate``: the trace's own mean rate)."""
        if self.kind == "poisson":
            return f"poisson:{rate!r}"
        if self.kind == "gamma":
            return f"gamma:{rate!r}:{self.cv!r}"
        if trace_rate is None:
            raise ConfigError("arrival 'trace' needs the trace's own rate")
        return f"trace:{trace_rate / rate!r}"


def parse_arrival_kind(text: str) -> ArrivalKind:
    """``poisson`` | ``gamma:CV`` | ``trace`` -> ArrivalKind; ConfigError listing the forms otherwise."""
    forms = "poisson | gamma:CV (CV > 0) | trace"
    if text in ("poisson", "trace"):
        return ArrivalKind(text)
    if text.startswith("gamma:"):
        try:
            cv = float(text.split(":", 1)[1])
        except ValueError:
            cv = math.nan
        if math.isfinite(cv) and cv > 0:
            return ArrivalKind("gamma", cv)
    raise ConfigError(f"--arrival {text!r}: expected {forms}")


def measurement_window(arrival_s: np.ndarray, warmup_fraction: float, cooldown_fraction: float) -> tuple[float, float]:
    """[start, end) of the measured arrivals: the arrival span less its warm-up and cool-down shares
    (all requests when they arrive at once)."""
    first, last = float(arrival_s.min()), float(arrival_s.max())
    span = last - first
    if span == 0:
        return first, math.nextafter(first, math.inf)
    return first + warmup_fraction * span, last - cooldown_fraction * span


@dataclass
class CapacitySearch:
    """The bracketing search as a state machine: ask :meth:`next_rate`, probe it, :meth:`record` the verdict.

    Written this way so that many searches can advance in lockstep, each round's probes running together
    (the ``serving`` study), and a single search in a plain loop (:func:`search`)."""

    start_rate: float
    settings: SearchSettings
    lo: float | None = None  # highest rate known to meet
    hi: float | None = None  # lowest rate known to violate
    outcome: str | None = None
    _doublings: int = 0
    _halvings: int = 0
    _next: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start_rate) and self.start_rate > 0):
            raise ConfigError(f"a capacity search needs a positive start rate, got {self.start_rate}")
        self._next = self.start_rate

    def next_rate(self) -> float | None:
        """The rate to probe next; None once the search has its outcome."""
        return None if self.outcome is not None else self._next

    def record(self, rate: float, met: bool, steady: bool = True) -> None:
        """The verdict of the probe at ``rate`` (the one :meth:`next_rate` gave) and whether it was steady."""
        if met:
            self.lo = rate if self.lo is None else max(self.lo, rate)
        else:
            self.hi = rate if self.hi is None else min(self.hi, rate)
        if met and not steady and self.hi is None:
            self.outcome = UNSATURATED
        elif self.lo is None:  # still bracketing downwards
            if self._halvings >= self.settings.max_halvings:
                self.outcome = NO_RATE
                return
            self._halvings += 1
            self._next = rate / 2
        elif self.hi is None:  # still bracketing upwards
            if self._doublings >= self.settings.max_doublings:
                self.outcome = UNSATURATED
                return
            self._doublings += 1
            self._next = rate * 2
        elif self.hi / self.lo - 1 <= self.settings.rel_tol:
            self.outcome = FOUND
        else:
            self._next = math.sqrt(self.lo * self.hi)


def probes_left_estimate(probes: Iterable[dict[str, Any]], settings: SearchSettings) -> int:
    """About how many more probes a search needs, from the probes so far (``rate_req_s``, ``met``): for a
    progress bar's ETA, not a bound. Bracketed: the bisections down to ``rel_tol``; else one more
    bracketing step, then the bisections of a factor-2 bracket."""
    probes = list(probes)
    met = [p["rate_req_s"] for p in probes if p["met"]]
    violated = [p["rate_req_s"] for p in probes if not p["met"]]
    lo, hi = (max(met), min(violated)) if met and violated else (1.0, 2.0)
    steps = 0 if met and violated else 1
    if hi / lo - 1 > settings.rel_tol:
        steps += math.ceil(math.log2(math.log(hi / lo) / math.log1p(settings.rel_tol)))
    return steps


def search(
    start_rate: float, settings: SearchSettings, probe: Callable[[float], tuple[bool, bool]]
) -> CapacitySearch:
    """Run one search to its outcome; ``probe(rate)`` gives (the SLOs hold at ``rate``, the probe was steady)."""
    state = CapacitySearch(start_rate, settings)
    while (rate := state.next_rate()) is not None:
        state.record(rate, *probe(rate))
    return state


def combine_seeds(rate: float, rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """One probe from its seeds' rows (``probe_point``): met when every seed met; means of the rates and
    shares; the worst seed's percentile values; the seed-to-seed spread of goodput and of the binding value."""
    rows = list(rows)
    met = all(bool(r["slo_met"]) for r in rows)
    worst = max(rows, key=lambda r: (not r["slo_met"], r["binding_ratio"]))
    goodputs = [r["goodput_tok_s"] for r in rows]
    ratios = [r["binding_ratio"] for r in rows]
    out: dict[str, Any] = {
        "rate_req_s": rate,
        "met": met,
        "seeds_met": sum(bool(r["slo_met"]) for r in rows),
        "seeds": len(rows),
        "goodput_tok_s": float(np.mean(goodputs)),
        "throughput_tok_s": float(np.mean([r["slo_throughput_tok_s"] for r in rows])),
        "slo_met_fraction": float(np.mean([r["slo_met_fraction"] for r in rows])),
        "binding_slo": worst["binding_slo"],
        "goodput_spread_tok_s": [float(min(goodputs)), float(max(goodputs))],
        "binding_ratio_spread": [float(min(ratios)), float(max(ratios))],
        "steady": all(bool(r["steady"]) for r in rows),
    }
    for name in ("ttft_p50_s", "ttft_p99_s", "tbt_p50_s", "tbt_p99_s"):
        out[name] = float(np.nanmax([r[name] for r in rows])) if any(np.isfinite(r[name]) for r in rows) else math.nan
    return out
