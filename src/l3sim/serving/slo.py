"""Latency SLOs of a run: parse targets, judge each request and the run, and compute goodput.

An SLO string is a comma-separated list of ``METRIC_pXX=VALUE`` targets, for
example ``ttft_p99=2s,tbt_p99=200ms``:

- METRIC: ``ttft`` (time to first token: first token - arrival), ``tbt``
  (time between tokens) or ``e2e`` (end-to-end latency: finish - arrival);
- pXX: ``p50``, ``p90`` or ``p99``;
- VALUE: a positive number with the unit ``s``, ``ms`` or ``us`` (no unit: seconds).

Two verdicts come from the same targets (docs/serving.md, "SLOs and goodput"):

- **Over the run** (``met``): a target holds when the XXth percentile of its metric over the measured
  samples is at most VALUE. The samples of ``ttft`` and ``e2e`` are one per measured request; those of
  ``tbt`` are every token gap of the measured requests, token-weighted (as ``RunResult.tbt_s``).
  Percentiles follow the run's inverted-CDF rule (``series.QUANTILE_METHOD``). The run meets its SLOs when
  every target holds.
- **Per request** (``met_fraction``, goodput): a request meets its SLOs when, for every target, its own
  value is at most VALUE: its TTFT, its end-to-end latency, and for ``tbt`` its mean time between tokens
  ((last token - first token) / (output tokens - 1), the TPOT of DistServe; a one-token request has none
  and meets any ``tbt`` target). The percentile plays no part here. A measured request that never fits the
  KV cache is never served and misses its SLOs.

Goodput is the output tokens of the measured requests that met their SLOs per second, over the same
denominator as the throughput it is compared with: without a measurement window, every request and the
run's makespan (so goodput = ``throughput_tok_s`` when every request meets); with a window
[start, end) (a capacity probe's warm-up excluded, ``l3sim.experiments.capacity``), the requests arriving
in it and end - start.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from l3sim.errors import ConfigError
from l3sim.serving.result import RunResult
from l3sim.serving.series import QUANTILE_METHOD

#: SLO metrics and the request-table column of each one's per-request value.
METRICS: dict[str, str] = {"ttft": "ttft_s", "tbt": "tbt_mean_s", "e2e": "e2e_s"}
#: Percentiles a target may name.
PERCENTILES: dict[str, float] = {"p50": 0.50, "p90": 0.90, "p99": 0.99}
#: Units of a target value, in seconds.
UNITS: dict[str, float] = {"s": 1.0, "ms": 1e-3, "us": 1e-6}

_TARGET = re.compile(
    r"^(?P<metric>[a-z0-9]+)_(?P<pct>[a-z0-9]+)=(?P<value>[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?)(?P<unit>[a-z]*)$"
)
FORMS = "METRIC_pXX=VALUE[s|ms|us], METRIC one of ttft, tbt, e2e and pXX one of p50, p90, p99"


@dataclass(frozen=True)
class SLOTarget:
    """One target: the ``percentile`` quantile of ``metric`` at most ``target_s`` seconds."""

    metric: str
    percentile: str
    target_s: float

    @property
    def name(self) -> str:
        """The target's key, e.g. ``ttft_p99``."""
        return f"{self.metric}_{self.percentile}"


def parse_slo(text: str) -> tuple[SLOTarget, ...]:
    """The targets of an SLO string (module docstring); ConfigError naming the bad part otherwise."""
    targets: dict[str, SLOTarget] = {}
    parts = [part.strip().lower() for part in text.split(",")]
    if not text.strip() or any(not part for part in parts):
        raise ConfigError(f"--slo {text!r}: expected comma-separated {FORMS}")
    for part in parts:
        match = _TARGET.match(part.replace(" ", ""))
        if match is None:
            raise ConfigError(f"--slo {part!r}: expected {FORMS}")
        metric, pct, unit = match["metric"], match["pct"], match["unit"] or "s"
        if metric not in METRICS:
            raise ConfigError(f"--slo {part!r}: unknown metric {metric!r}; known: {', '.join(METRICS)}")
        if pct not in PERCENTILES:
            raise ConfigError(f"--slo {part!r}: unknown percentile {pct!r}; known: {', '.join(PERCENTILES)}")
        if unit not in UNITS:
            raise ConfigError(f"--slo {part!r}: unknown unit {unit!r}; known: {', '.join(UNITS)}")
        value = float(match["value"])
        if not math.isfinite(value) or value <= 0:
            raise ConfigError(f"--slo {part!r}: the target must be a positive, finite time")
        target = SLOTarget(metric, pct, value * UNITS[unit])
        if target.name in targets:
            raise ConfigError(f"--slo {text!r}: {target.name} is given twice")
        targets[target.name] = target
    return tuple(targets.values())


def format_slo(targets: tuple[SLOTarget, ...]) -> str:
    """The canonical SLO string of ``targets`` (values in seconds), which :func:`parse_slo` reads back."""
    return ",".join(f"{t.name}={t.target_s!r}s" for t in targets)


@dataclass
class SLOReport:
    """How a run did against its SLOs (module docstring for every definition).

    ``values``: each target's percentile over the run (seconds; NaN when it has no samples, which meets
    it); ``binding``: the target with the largest value / target ratio, the one that fails first as
    load rises; ``measured``: requests in the window; ``duration_s``: the goodput denominator.
    """

    met: bool
    met_fraction: float
    goodput_tok_s: float
    throughput_tok_s: float
    binding: str
    measured: int
    duration_s: float
    values: dict[str, float] = field(default_factory=dict)
    targets: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Flat, JSON-ready: ``slo_met``, ``slo_met_fraction``, ``goodput_tok_s``, ``binding_slo`` and more."""
        return {
            "slo_met": self.met,
            "slo_met_fraction": self.met_fraction,
            "goodput_tok_s": self.goodput_tok_s,
            "slo_throughput_tok_s": self.throughput_tok_s,
            "binding_slo": self.binding,
            "slo_measured_requests": self.measured,
            "slo_duration_s": self.duration_s,
            "slo_values_s": dict(self.values),
            "slo_targets_s": dict(self.targets),
        }


def evaluate_slo(
    result: RunResult, targets: tuple[SLOTarget, ...], window: tuple[float, float] | None = None
) -> SLOReport:
    """Judge ``result`` against ``targets``; ``window`` = the arrival window [start, end) of the measured
    requests, which must be the one ``simulate``/``serve`` got as ``measure`` (None: every request)."""
    table = measured_requests(result, window)
    duration = window[1] - window[0] if window is not None else result.makespan_s
    served = table[table["status"] == "served"]
    values = {t.name: run_percentile(result, served, t.metric, t.percentile) for t in targets}
    ratios = {t.name: values[t.name] / t.target_s for t in targets}
    ok = np.ones(len(served), dtype=bool)
    for t in targets:
        own = served[METRICS[t.metric]].to_numpy(dtype=np.float64)
        ok &= np.isnan(own) | (own <= t.target_s)
    tokens = float(served["output_tokens"].sum())
    good = float(served["output_tokens"].to_numpy()[ok].sum())
    rate = (lambda x: x / duration) if duration > 0 else (lambda x: math.nan)
    return SLOReport(
        met=all(not (r > 1.0) for r in ratios.values()),  # NaN (no samples) meets
        met_fraction=float(ok.sum()) / len(table) if len(table) else math.nan,
        goodput_tok_s=rate(good),
        throughput_tok_s=rate(tokens),
        binding=max(ratios, key=lambda name: -math.inf if math.isnan(ratios[name]) else ratios[name]),
        measured=len(table),
        duration_s=duration,
        values=values,
        targets={t.name: t.target_s for t in targets},
    )


def measured_requests(result: RunResult, window: tuple[float, float] | None = None) -> Any:
    """The request-table rows of the requests arriving in ``window`` = [start, end) (None: every request)."""
    table = result.requests_table
    if window is None:
        return table
    return table[(table["arrival_s"] >= window[0]) & (table["arrival_s"] < window[1])]


def run_percentile(result: RunResult, served: Any, metric: str, percentile: str) -> float:
    """The ``percentile`` of ``metric`` over the measured samples (NaN when there are none): ``served`` is
    the request-table rows of the measured, served requests; token gaps come from ``result.tbt_samples``."""
    q = PERCENTILES[percentile]
    if metric == "tbt":
        return result.tbt_samples.quantiles((q,))[0]
    samples = served[METRICS[metric]].to_numpy(dtype=np.float64)
    return float(np.quantile(samples, q, method=QUANTILE_METHOD)) if samples.size else math.nan


#: The SLO columns a comparison table shows.
SLO_COLUMNS = ("slo_met", "slo_met_fraction", "goodput_tok_s", "binding_slo")


def slo_row(result: RunResult, targets: tuple[SLOTarget, ...]) -> dict[str, Any]:
    """``evaluate_slo(result, targets).to_dict()``; empty for a run whose weights do not fit (nothing served)."""
    return {} if result.oom else evaluate_slo(result, targets).to_dict()
