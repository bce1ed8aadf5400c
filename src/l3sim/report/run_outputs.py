"""``--out DIR`` of ``l3sim run``: result.json, requests.csv, run.png and account.png."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from l3sim.outputs import atomic_write, make_dir, save_figure, write_text
from l3sim.serving.result import RunResult
from l3sim.spec.provenance import PROVENANCE_KEY

CSV_COLUMNS = ("id", "arrival_s", "prompt_tokens", "output_tokens", "ttft_s", "tbt_mean_s", "e2e_s", "preemptions")


def prepare_out_dir(out_dir: Path) -> Path:
    """Create ``out_dir`` (and parents); a path that is a file, or cannot be written, is an OutputError."""
    return make_dir(out_dir, "--out")


#: Time windows run.png bins a run into: the curves show each window's means, not every iteration.
RUN_PLOT_WINDOWS = 200


def binned_segments(segments, edges: np.ndarray) -> dict[str, np.ndarray]:
    """One replica's segments summarised per time window (``edges``, ascending, seconds).

    A segment (k iterations of one batch) is spread evenly over its span, so a window holds its share of
    the segment's busy time, iterations and batch-seconds. Per window: ``batch``, the time-weighted mean
    batch while iterating; ``latency_s``, the mean iteration latency (busy time / iterations); ``low_s``
    and ``high_s``, the shortest and longest iteration of any segment that overlaps the window. NaN where
    the window has no iteration.
    """
    start, end = segments["start_s"].to_numpy(float), segments["end_s"].to_numpy(float)
    k = segments["iterations"].to_numpy(float)
    first = segments["first_latency_s"].to_numpy(float)
    last = first + (k - 1) * segments["latency_increment_s"].to_numpy(float)
    order = np.argsort(start, kind="stable")
    start, end, k, first, last = start[order], end[order], k[order], first[order], last[order]
    batch = segments["batch_size"].to_numpy(float)[order]
    span = end - start

    def cumulative(per_segment: np.ndarray) -> np.ndarray:
        """The running total of ``per_segment`` (spread evenly over each segment's span) at each edge."""
        totals = np.cumsum(per_segment)
        x = np.column_stack([start, end]).ravel()
        y = np.column_stack([totals - per_segment, totals]).ravel()
        return np.diff(np.interp(edges, x, y))

    busy = cumulative(span)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_batch = np.where(busy > 0, cumulative(batch * span) / busy, np.nan)
        latency = np.where(busy > 0, busy / cumulative(k), np.nan)
    low = np.full(len(edges) - 1, np.inf)
    high = np.full(len(edges) - 1, -np.inf)
    first_bin = np.clip(np.searchsorted(edges, start, side="right") - 1, 0, len(edges) - 2)
    last_bin = np.clip(np.searchsorted(edges, end, side="left") - 1, first_bin, len(edges) - 2)
    count = last_bin - first_bin + 1
    bins = np.repeat(first_bin, count) + np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    np.minimum.at(low, bins, np.repeat(np.minimum(first, last), count))
    np.maximum.at(high, bins, np.repeat(np.maximum(first, last), count))
    empty = ~np.isfinite(low)
    low[empty], high[empty] = np.nan, np.nan
    return {"batch": mean_batch, "latency_s": latency, "low_s": low, "high_s": high}


def plot_run(result: RunResult, path: Path) -> Path:
    """Batch size and iteration latency over time, one line per replica, binned into
    :data:`RUN_PLOT_WINDOWS` windows (:func:`binned_segments`): the mean batch, the mean iteration latency
    and, shaded, the shortest to longest iteration of each window; as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    seg = result.segments
    end = float(seg["end_s"].max()) if len(seg) else 1.0
    edges = np.linspace(0.0, end, RUN_PLOT_WINDOWS + 1)
    centres = (edges[:-1] + edges[1:]) / 2
    for replica in sorted(seg["replica"].unique()) if len(seg) else []:
        summary = binned_segments(seg[seg["replica"] == replica], edges)
        label = f"replica {int(replica)}"
        top.plot(centres, summary["batch"], linewidth=1.2, label=label)
        line, = bottom.plot(centres, summary["latency_s"] * 1e3, linewidth=1.2, label=f"{label}: mean")
        bottom.fill_between(centres, summary["low_s"] * 1e3, summary["high_s"] * 1e3, color=line.get_color(),
                            alpha=0.2, linewidth=0, label=f"{label}: shortest to longest")
    top.set_ylabel("batch size (requests, mean)")
    bottom.set_ylabel("iteration latency (ms, log)")
    bottom.set_yscale("log")  # recompute prefills take ~40x a decode step
    bottom.set_xlabel(f"time (s; {RUN_PLOT_WINDOWS} windows of {end / RUN_PLOT_WINDOWS:.3g} s)")
    top.set_title(f"{result.system} ({result.scheduler} scheduler): {result.model} (TP{result.tp} x DP{result.dp}) "
                  f"on {result.workload}, {result.requests} requests", fontsize="medium")
    if result.dp > 1:
        top.legend(fontsize="small")
    bottom.legend(fontsize="small", loc="best")
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    plt.close(fig)
    return path


def result_record(result: RunResult, provenance: dict[str, Any] | None) -> str:
    """The JSON text of result.json: the run's metrics (``RunResult.to_dict``, NaN as null) and, under
    ``"provenance"``, what it came from (``l3sim.spec.provenance``: resolved spec, overrides, seed, version,
    command line)."""
    data = json.loads(result.to_json())
    if provenance is not None:
        data[PROVENANCE_KEY] = provenance
    return json.dumps(data, indent=2) + "\n"


def write_run_outputs(result: RunResult, out_dir: Path, provenance: dict[str, Any] | None = None) -> list[Path]:
    """Write result.json (with ``provenance``, see :func:`result_record`), requests.csv, run.png and (where
    the system reports it) account.png, the run's bound-and-loss waterfall, into ``out_dir``; return the
    paths."""
    out_dir = prepare_out_dir(out_dir)
    paths = [out_dir / "result.json", out_dir / "requests.csv"]
    write_text(paths[0], result_record(result, provenance))
    table = result.requests_table[[*CSV_COLUMNS, "replica", "status"]]
    atomic_write(paths[1], lambda tmp: table.to_csv(tmp, index=False))
    if not result.oom:
        paths.append(plot_run(result, out_dir / "run.png"))
    if result.losses_s:
        from l3sim.report.account import plot_waterfall

        paths.append(plot_waterfall([result], out_dir / "account.png"))
    return paths
