"""RunResult: the metrics of one run, its per-request table and its segment log."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from l3sim.serving.recorder import SEGMENT_COLUMNS
from l3sim.serving.series import SeriesSamples

if TYPE_CHECKING:
    import pandas as pd

REQUEST_COLUMNS = (
    "id",
    "replica",
    "status",
    "arrival_s",
    "prompt_tokens",
    "output_tokens",
    "ttft_s",
    "tbt_mean_s",
    "e2e_s",
    "preemptions",
)

NAN_SUMMARY = {"mean": math.nan, "p50": math.nan, "p99": math.nan}


@dataclass
class RunResult:
    """One simulation run. ``to_dict()`` gives the flat JSON of ``l3sim run --json``.

    Latency summaries are {mean, p50, p99} in seconds; percentiles use the
    inverted-CDF rule (the smallest sample with at least that share of samples
    at or below it). ``requests_table`` has one row per request (REQUEST_COLUMNS;
    status 'served' or 'never-fits'); ``segments`` one row per stretch of
    identical iterations (see ``l3sim.serving.recorder.SEGMENT_COLUMNS``). Both
    are pandas frames built at first use from ``request_parts`` and
    ``segment_rows``, so a run whose tables no one reads (``l3sim run --json``)
    never imports pandas (about 0.3 s of a fresh process).
    """

    system: str
    scheduler: str
    model: str
    workload: str
    tp: int
    dp: int
    requests: int
    assumptions: str | None = None  # the assumption profile the run's spec was built with (l3sim.spec.assumptions)
    requests_served: int = 0
    never_fit_ids: list[int] = field(default_factory=list)
    output_tokens: int = 0
    makespan_s: float = math.nan
    throughput_tok_s: float = math.nan
    steady_throughput_tok_s: float = math.nan  # over the window in which requests waited (metrics.py)
    avg_batch_size: float = math.nan
    iterations: int = 0
    ttft_s: dict[str, float] = field(default_factory=lambda: dict(NAN_SUMMARY))
    tbt_s: dict[str, float] = field(default_factory=lambda: dict(NAN_SUMMARY))
    e2e_s: dict[str, float] = field(default_factory=lambda: dict(NAN_SUMMARY))
    iteration_latency_s: dict[str, float] = field(default_factory=lambda: dict(NAN_SUMMARY))
    kv_capacity_tokens: int = 0
    kv_util_mean: float = math.nan
    kv_util_peak: float = math.nan
    preemptions: int = 0
    busy_fraction: dict[str, float] = field(default_factory=dict)
    bubble_fraction: dict[str, float] = field(default_factory=dict)
    pcie_share: float = 0.0
    aggregates: dict[str, float] = field(default_factory=dict)
    oom: bool = False
    oom_reason: str = ""
    warnings: list[str] = field(default_factory=list)
    # the per-request table in pieces (never-fit requests, then each replica's), each a column -> array or
    # scalar mapping; ``requests_table`` joins them
    request_parts: list[dict[str, Any]] = field(default_factory=list, repr=False)
    segment_rows: np.ndarray | None = field(default=None, repr=False)  # rows of SEGMENT_COLUMNS
    timeline: list[tuple] = field(default_factory=list)  # (replica, start_s, end_s, iterations, phases)
    # the bound-and-loss account (serving/account.py): NaN / empty where the system reports no terms
    bound_s: float = math.nan
    losses_s: dict[str, float] = field(default_factory=dict)
    batch_time_mean: float = math.nan  # requests per iteration, time-weighted over the iterating time
    capacity_batch_time_mean: float = math.nan  # the batch KV capacity allows, time-weighted likewise
    # every token gap of the measured requests (all served ones unless serve() got a window), for SLO percentiles
    tbt_samples: SeriesSamples = field(default_factory=SeriesSamples)

    @cached_property
    def requests_table(self) -> pd.DataFrame:
        """One row per request, sorted by id (REQUEST_COLUMNS)."""
        import pandas as pd

        if not self.request_parts:
            return pd.DataFrame(columns=list(REQUEST_COLUMNS))
        parts = [pd.DataFrame(part) for part in self.request_parts]
        frame = pd.concat([p for p in parts if len(p)], ignore_index=True) if any(len(p) for p in parts) else parts[0]
        return frame[list(REQUEST_COLUMNS)].sort_values("id", kind="stable").reset_index(drop=True)

    @cached_property
    def segments(self) -> pd.DataFrame:
        """One row per stretch of identical iterations (SEGMENT_COLUMNS)."""
        import pandas as pd

        if self.segment_rows is None:
            return pd.DataFrame()
        return pd.DataFrame(self.segment_rows, columns=list(SEGMENT_COLUMNS))

    def to_dict(self) -> dict[str, Any]:
        """The flat, JSON-ready metrics (tables left out)."""
        return {
            "system": self.system,
            "scheduler": self.scheduler,
            "model": self.model,
            "workload": self.workload,
            "tp": self.tp,
            "dp": self.dp,
            "requests": self.requests,
            "assumptions": self.assumptions,
            "requests_served": self.requests_served,
            "requests_never_fit": len(self.never_fit_ids),
            "never_fit_ids": list(self.never_fit_ids),
            "output_tokens": self.output_tokens,
            "makespan_s": self.makespan_s,
            "throughput_tok_s": self.throughput_tok_s,
            "steady_throughput_tok_s": self.steady_throughput_tok_s,
            "avg_batch_size": self.avg_batch_size,
            "iterations": self.iterations,
            "ttft_s": dict(self.ttft_s),
            "tbt_s": dict(self.tbt_s),
            "e2e_s": dict(self.e2e_s),
            "iteration_latency_s": dict(self.iteration_latency_s),
            "kv_capacity_tokens": self.kv_capacity_tokens,
            "kv_util_mean": self.kv_util_mean,
            "kv_util_peak": self.kv_util_peak,
            "preemptions": self.preemptions,
            "busy_fraction": dict(self.busy_fraction),
            "bubble_fraction": dict(self.bubble_fraction),
            "pcie_share": self.pcie_share,
            "aggregates": dict(self.aggregates),
            "oom": self.oom,
            "oom_reason": self.oom_reason,
            "warnings": list(self.warnings),
        }

    def account_dict(self) -> dict[str, Any]:
        """The bound-and-loss account (``l3sim run --json --explain`` adds it to ``to_dict()``)."""
        return {
            "bound_s": self.bound_s,
            "losses_s": dict(self.losses_s),
            "batch_time_mean": self.batch_time_mean,
            "capacity_batch_time_mean": self.capacity_batch_time_mean,
        }

    def to_json(self) -> str:
        """``to_dict()`` as strict JSON: NaN and infinities become null."""
        return json.dumps(_strict(self.to_dict()), indent=2)


def _strict(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value

