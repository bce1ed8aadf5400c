"""Several systems on the same model, workload and requests: one RunResult each, and the comparison rows.

``normalized_throughput`` divides each system's throughput by gpu-only's; if gpu-only is absent or
out of memory, by l3's (as the paper does when the GPU-only baseline cannot hold the model); if
neither ran, it is NaN. A system that cannot hold the model gives a row with ``oom: true`` and the
others still run.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

from l3sim.errors import ConfigError
from l3sim.serving.result import RunResult
from l3sim.serving.simulate import simulate
from l3sim.serving.systems import system_names
from l3sim.spec.run import RunSpec

NORMALISE_TO = ("gpu-only", "l3")


def parse_systems(text: str) -> list[str]:
    """Comma-separated system names, each checked against the registry (ConfigError lists the valid ones)."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise ConfigError(f"--systems needs at least one name; known: {', '.join(system_names())}")
    unknown = [name for name in names if name not in system_names()]
    if unknown:
        raise ConfigError(f"unknown system(s) {', '.join(map(repr, unknown))}; known: {', '.join(system_names())}")
    return names


def compare(
    specs: Sequence[RunSpec], progress: Callable[[str], Callable[[int, int], None] | None] | None = None
) -> list[RunResult]:
    """Simulate every spec (one per system), in order; ``progress(system)`` may give a per-run callback."""
    return [simulate(spec, progress(spec.system) if progress else None) for spec in specs]


def normalisation_base(results: Sequence[RunResult]) -> tuple[str | None, float]:
    """The system throughputs are normalised to, and its throughput (see the module docstring)."""
    by_name = {r.system: r for r in results}
    for name in NORMALISE_TO:
        result = by_name.get(name)
        if result is not None and not result.oom and math.isfinite(result.throughput_tok_s):
            return name, result.throughput_tok_s
    return None, math.nan


def comparison_rows(results: Sequence[RunResult]) -> list[dict[str, Any]]:
    """``to_dict()`` of every result plus ``normalized_throughput`` and ``normalized_to``."""
    base_name, base = normalisation_base(results)
    rows = []
    for result in results:
        row = result.to_dict()
        row["normalized_throughput"] = result.throughput_tok_s / base if base_name and not result.oom else math.nan
        row["normalized_to"] = base_name
        rows.append(row)
    return rows


#: The readable comparison table's columns, most telling first (a narrow terminal shows the leading ones).
TABLE_COLUMNS = (
    "system",
    "tok/s",
    "norm",
    "batch",
    "tbt p99 ms",
    "ttft s",
    "iter ms",
    "tbt p50 ms",
    "gpu busy",
    "att busy",
    "pcie",
    "kv use",
    "scheduler",
    "oom",
)


def table_row(row: dict[str, Any]) -> dict[str, Any]:
    """The columns of the readable comparison table (TABLE_COLUMNS, short names) from one comparison row:
    throughput, normalised throughput, mean batch, mean iteration latency, TBT p50/p99, mean TTFT, busy
    fractions of the GPU and the attention device, PCIe share, mean KV-capacity use."""
    busy = row.get("busy_fraction", {})
    return {
        "system": row["system"],
        "scheduler": row["scheduler"],
        "oom": row["oom"],
        "tok/s": row["throughput_tok_s"],
        "norm": row["normalized_throughput"],
        "batch": row["avg_batch_size"],
        "iter ms": row["iteration_latency_s"]["mean"] * 1e3,
        "tbt p50 ms": row["tbt_s"]["p50"] * 1e3,
        "tbt p99 ms": row["tbt_s"]["p99"] * 1e3,
        "ttft s": row["ttft_s"]["mean"],
        "gpu busy": busy.get("gpu", math.nan),
        "att busy": busy.get("attention", math.nan),
        "pcie": row["pcie_share"],
        "kv use": row["kv_util_mean"],
    }
