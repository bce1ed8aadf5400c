"""The last gate of every run: each metric finite and inside its physical range, or the run is an error.

A model fed extreme but individually valid settings can still compute an
infinite time, a zero throughput or a negative idle share; printing that as a
result would be silently wrong. :func:`check_result` is applied by
:func:`l3sim.serving.simulate` to every RunResult before anyone sees it and
raises :class:`~l3sim.errors.NumericalError` naming the metric, its value and
the range it must lie in.

Not-a-number is allowed only where a metric is undefined by construction (the
definitions in ``metrics.py``): every timing metric of a run whose weights do
not fit (OOM), ``tbt_s`` when no served request has two output tokens,
``steady_throughput_tok_s`` when no replica's steady window has a length,
``kv_util_mean`` when no time was spent iterating, and the account terms of
systems that report none. Infinity is never allowed.
"""

from __future__ import annotations

import math
from typing import Any, Iterator

from l3sim.errors import NumericalError
from l3sim.serving.result import RunResult

UNIT = (0.0, 1.0)
NON_NEGATIVE = (0.0, math.inf)
POSITIVE = (math.nextafter(0.0, 1.0), math.inf)

#: Range of each metric (a prefix ending in "." covers every key of that table); anything else only needs
#: to be finite.
RANGES: dict[str, tuple[float, float]] = {
    "makespan_s": POSITIVE,
    "throughput_tok_s": POSITIVE,
    "steady_throughput_tok_s": NON_NEGATIVE,
    "avg_batch_size": NON_NEGATIVE,
    "ttft_s.": NON_NEGATIVE,
    "tbt_s.": NON_NEGATIVE,
    "e2e_s.": NON_NEGATIVE,
    "iteration_latency_s.": NON_NEGATIVE,
    "kv_util_mean": UNIT,
    "kv_util_peak": UNIT,
    "busy_fraction.": UNIT,
    "bubble_fraction.": UNIT,
    "pcie_share": UNIT,
    "aggregates.": NON_NEGATIVE,
    "bound_s": NON_NEGATIVE,
    "batch_time_mean": NON_NEGATIVE,
    "capacity_batch_time_mean": NON_NEGATIVE,
}

#: Metrics that are NaN by definition in some runs (see the module docstring), by prefix.
MAY_BE_NAN = ("steady_throughput_tok_s", "kv_util_mean", "bound_s", "batch_time_mean", "capacity_batch_time_mean")


def _numbers(table: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, float]]:
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _numbers(value, f"{name}.")
        elif isinstance(value, float) or (isinstance(value, int) and not isinstance(value, bool)):
            yield name, float(value)


def _range(name: str) -> tuple[float, float]:
    for key, bounds in RANGES.items():
        if name == key or (key.endswith(".") and name.startswith(key)):
            return bounds
    return (-math.inf, math.inf)


def _nan_allowed(result: RunResult, name: str) -> bool:
    if result.oom or result.requests_served == 0:
        return True
    if name.startswith("tbt_s."):
        return result.output_tokens <= result.requests_served  # no request has a second token
    return name.startswith(MAY_BE_NAN)


def check_result(result: RunResult) -> RunResult:
    """Return ``result`` unless a metric is infinite, NaN where it must be defined, or out of its range."""
    where = f"{result.system} / {result.model} / {result.workload}"
    for name, value in _numbers({**result.to_dict(), **result.account_dict()}):
        if math.isnan(value):
            if _nan_allowed(result, name):
                continue
            raise NumericalError(f"{where}: metric {name} is not a number; the inputs drive the model outside "
                                 "the range it computes in (check extreme --set values)")
        low, high = _range(name)
        if not (math.isfinite(value) and low <= value <= high):
            shown = f"[{low:g}, {high:g}]" if (low, high) != POSITIVE else "> 0"
            raise NumericalError(f"{where}: metric {name} = {value!r} is outside its physical range {shown}; "
                                 "the inputs drive the model outside the range it computes in "
                                 "(check extreme --set values)")
    return result
