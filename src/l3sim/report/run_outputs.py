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


def plot_run(result: RunResult, path: Path) -> Path:
    """Batch size and iteration latency over time (one line per replica), as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    seg = result.segments
    for replica in sorted(seg["replica"].unique()) if len(seg) else []:
        rows = seg[seg["replica"] == replica]
        # Each segment: constant batch; latency from first to first + (k-1) * increment.
        t = np.column_stack([rows["start_s"], rows["end_s"]]).ravel()
        batch = np.repeat(rows["batch_size"].to_numpy(), 2)
        last = rows["first_latency_s"] + (rows["iterations"] - 1) * rows["latency_increment_s"]
        latency = np.column_stack([rows["first_latency_s"], last]).ravel()
        label = f"replica {int(replica)}"
        top.plot(t, batch, linewidth=0.8, label=label)
        bottom.plot(t, latency * 1e3, linewidth=0.8, label=label)
    top.set_ylabel("batch size (requests)")
    bottom.set_ylabel("iteration latency (ms, log)")
    bottom.set_yscale("log")  # recompute prefills take ~40x a decode step
    bottom.set_xlabel("time (s)")
    top.set_title(f"{result.system} / {result.model} / {result.workload}")
    if result.dp > 1:
        top.legend(fontsize="small")
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
