"""``scalability``: L3 from one rankset (16 channels x 1 rank, 512 GiB) to 8x, three ways (paper Fig. 13).

The modes are defined in :mod:`l3sim.experiments.studies.memory_scaling`:
``bandwidth`` (more ranks of less dense chips), ``capacity`` (denser chips,
same ranks), ``both`` (more ranks of the same chips). GPT-175B on OpenR1 is
our choice of model (the paper's figure does not say which it scales; it is
the model of its headline batch-size figures).
"""

from __future__ import annotations

import math

import pandas as pd

from l3sim.experiments.studies.base import StudyOptions, StudyResult
from l3sim.experiments.studies.memory_scaling import MODES, base_host, host_figures, scaled_memory
from l3sim.experiments.studies.plots import lines
from l3sim.experiments.studies.points import Grid, run_grid
from l3sim.experiments.studies.tables import ok_value, pick, status_notes

MEMORY = "dgx-a100-l3"
BASE_RANKSETS = 1  # the paper's starting point: 1 rankset, 512 GB
FACTORS = (1, 2, 4, 8)
MODEL, WORKLOAD, SYSTEM, PLATFORM = "gpt-175b", "openr1", "l3", "dgx-a100"
SCHEDULER = None  # the system's default: the L3 scheduler
METRICS = ["throughput_tok_s", "avg_batch_size", "iteration_latency_s.mean", "oom"]


def scaling_points(modes=MODES, factors=FACTORS) -> tuple[list[dict], dict[str, list]]:
    """The (mode, factor, host figures) labels and the zipped memory overrides of every point, in order."""
    _, rows, density = base_host(MEMORY)
    labels, zipped = [], {}
    for mode in modes:
        for factor in factors:
            overrides = scaled_memory(mode, factor, BASE_RANKSETS, rows, density)
            labels.append({"mode": mode, "factor": factor, **host_figures(MEMORY, overrides)})
            for key, value in overrides.items():
                zipped.setdefault(key, []).append(value)
    return labels, zipped


def add_speedup(table: pd.DataFrame) -> pd.DataFrame:
    """``speedup``: throughput over the same mode's factor-1 point (all modes share that host)."""
    table = table.copy()
    tput = pd.Series([ok_value(row, "throughput_tok_s") for _, row in table.iterrows()], index=table.index)
    base = tput[table["factor"] == 1]
    reference = float(base.dropna().iloc[0]) if base.notna().any() else math.nan
    table["speedup"] = tput / reference
    return table


def findings(table: pd.DataFrame) -> str:
    top = table[table["factor"] == max(FACTORS)]
    parts = [f"{row['mode']} x{row['factor']}: {row['speedup']:.2f}x throughput"
             for _, row in top.iterrows() if not math.isnan(row["speedup"])]
    return "; ".join(parts) + "." if parts else "No L3 results in this build (see the notes)."


def plot(table: pd.DataFrame, path) -> None:
    lines(table.assign(panel="scaling the DIMM-PIM host"), path, facet="panel", x="factor", hue="mode",
          y="speedup", ylabel="throughput / 1 rankset", xlabel="scale factor (x 512 GiB / x 3.3 TB/s)",
          facet_label="", title=f"Scalability: {SYSTEM} on {PLATFORM}, {MODEL}, {WORKLOAD}")


def grids(options: StudyOptions) -> list[Grid]:
    """The serving runs of the study (``points.Grid``)."""
    return [Grid({"platform": PLATFORM, "model": MODEL, "workload": WORKLOAD, "system": SYSTEM,
                  "scheduler": SCHEDULER}, {}, (scaling_points()[1],))]


def scalability_study(options: StudyOptions) -> StudyResult:
    labels, zipped = scaling_points()
    [grid] = grids(options)
    raw = run_grid("scalability", options, grid)
    table = pd.concat([pd.DataFrame(labels), pick(raw, list(zipped), METRICS)], axis=1)
    table = add_speedup(table)
    return StudyResult(
        name="scalability",
        title="scaling DIMM capacity and bandwidth",
        table=table,
        method=(f"{SYSTEM} on {MODEL} / {WORKLOAD}, {options.request_count} requests, from {BASE_RANKSETS} "
                f"rankset of the {MEMORY} host (16 channels x 1 rank of 8 x8 32 Gb DDR4-3200 chips: 512 GiB, "
                "3.3 TB/s bank-PIM peak) to x2, x4, x8 by three rules: bandwidth only (more ranks of "
                "proportionally less dense chips), capacity only (denser chips, same ranks), both (more ranks "
                "of the same chips). Speed-up is over the 1-rankset run."),
        paper=("Scaling DIMM capacity and bandwidth together 8x gives about 8x throughput, while scaling one "
               "alone gives far less (Fig. 13)."),
        findings=findings(table),
        plot=plot,
        notes=status_notes(pd.concat([pd.DataFrame(labels), raw], axis=1), ["mode", "factor"]),
    )
