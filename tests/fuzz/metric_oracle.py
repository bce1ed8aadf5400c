"""What a successful ``l3sim run --json`` must look like, written from the metric definitions
(docs/serving.md, serving/metrics.py's docstring), not from the code that checks them in the simulator.

JSON has no infinity and the CLI writes NaN as null, so a null is accepted only
where a metric is undefined by definition: every timing metric of a run that
does not fit (OOM) or serves nothing, ``tbt_s`` when no request has a second
token, and ``steady_throughput_tok_s``/``kv_util_mean`` (a window of no length).
"""

from __future__ import annotations

import math
from typing import Any

MAY_BE_NULL = {"steady_throughput_tok_s", "kv_util_mean"}
FRACTION_TABLES = ("busy_fraction", "bubble_fraction")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_run_json(data: dict[str, Any]) -> None:
    """Raise AssertionError naming the first metric that is missing where required, or out of its range."""
    assert isinstance(data, dict), data
    served, requests = data["requests_served"], data["requests"]
    assert 0 <= served <= requests and served + data["requests_never_fit"] <= requests, data
    timed = not data["oom"] and served > 0
    summaries = ("ttft_s", "e2e_s", "iteration_latency_s", "tbt_s")
    for name in summaries:
        table = data[name]
        nullable = not timed or (name == "tbt_s" and data["output_tokens"] <= served)
        for key in ("mean", "p50", "p99"):
            value = table[key]
            if value is None:
                assert nullable, f"{name}.{key} is null in a run that served requests"
                continue
            assert _number(value) and math.isfinite(value) and value >= 0, f"{name}.{key} = {value!r}"
        if table["p50"] is not None and table["p99"] is not None:
            assert table["p50"] <= table["p99"], f"{name}: p50 above p99"
    for name in ("makespan_s", "throughput_tok_s", "avg_batch_size", "steady_throughput_tok_s", "kv_util_mean",
                 "kv_util_peak", "pcie_share"):
        value = data[name]
        if value is None:
            assert not timed or name in MAY_BE_NULL, f"{name} is null in a run that served requests"
            continue
        assert _number(value) and math.isfinite(value) and value >= 0, f"{name} = {value!r}"
    if timed:
        assert data["makespan_s"] > 0 and data["throughput_tok_s"] > 0, data
        assert math.isclose(data["throughput_tok_s"], data["output_tokens"] / data["makespan_s"], rel_tol=1e-9)
        assert data["iterations"] >= 1 and data["avg_batch_size"] >= 1
    for name in ("kv_util_mean", "kv_util_peak", "pcie_share"):
        assert data[name] is None or data[name] <= 1, f"{name} = {data[name]!r} above 1"
    for table in FRACTION_TABLES:
        for key, value in data[table].items():
            assert _number(value) and 0 <= value <= 1, f"{table}.{key} = {value!r}"
    for key, value in data["aggregates"].items():
        assert _number(value) and math.isfinite(value) and value >= 0, f"aggregates.{key} = {value!r}"
