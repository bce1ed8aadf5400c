"""``scheduler``: capacity-first versus the L3 scheduler at 1x, 1.5x, 2x DIMM capacity (paper Fig. 14).

"Capacity" is scaled the ``capacity`` way of
:mod:`l3sim.experiments.studies.memory_scaling` (denser chips, the same ranks
and hence the same PIM bandwidth) from the paper's host (4 ranksets, 2 TiB):
the paper does not say how it scaled capacity; this isolates the scheduler's
use of room from any change in bandwidth. Models: GPT-175B (MHA) and
QWEN-72B (GQA-8), the two attention kinds the L3 scheduler adds N decodes for
differently (N = 1 and 16).
"""

from __future__ import annotations

import math

import pandas as pd

from l3sim.experiments.studies.base import StudyOptions, StudyResult
from l3sim.experiments.studies.memory_scaling import base_host, host_figures, scaled_memory
from l3sim.experiments.studies.plots import grouped_bars
from l3sim.experiments.studies.points import Grid, run_grid
from l3sim.experiments.studies.tables import ok_value, pick, status_notes

MEMORY = "dgx-a100-l3"
CAPACITY_FACTORS = (1, 1.5, 2)
SCHEDULERS = ["capacity-first", "l3"]  # the ablation baseline, then the scheduler compared with it
MODELS = ["gpt-175b", "qwen-72b"]
WORKLOAD, SYSTEM, PLATFORM = "openr1", "l3", "dgx-a100"
METRICS = ["throughput_tok_s", "tbt_s.mean", "tbt_s.p99", "avg_batch_size", "oom"]


def capacity_points() -> tuple[list[dict], dict[str, list]]:
    """Labels (capacity factor, host figures) and zipped memory overrides, one per capacity."""
    ranksets, rows, density = base_host(MEMORY)
    labels, zipped = [], {}
    for factor in CAPACITY_FACTORS:
        overrides = scaled_memory("capacity", factor, ranksets, rows, density)
        labels.append({"capacity_factor": factor, **host_figures(MEMORY, overrides)})
        for key, value in overrides.items():
            zipped.setdefault(key, []).append(value)
    return labels, zipped


def compare(table: pd.DataFrame) -> pd.DataFrame:
    """Per (model, capacity): the L3 scheduler's throughput over capacity-first's, its TBT change (negative: lower)."""
    baseline, compared = SCHEDULERS
    rows = []
    for (model, factor), group in table.groupby(["model", "capacity_factor"], sort=False):
        by = {row["scheduler"]: row for _, row in group.iterrows()}
        if not set(SCHEDULERS) <= set(by):
            continue
        base, ours = by[baseline], by[compared]
        rows.append({"model": model, "capacity_factor": factor,
                     "throughput_ratio": ok_value(ours, "throughput_tok_s") / ok_value(base, "throughput_tok_s"),
                     "tbt_mean_change": ok_value(ours, "tbt_s.mean") / ok_value(base, "tbt_s.mean") - 1,
                     "tbt_p99_change": ok_value(ours, "tbt_s.p99") / ok_value(base, "tbt_s.p99") - 1})
    return pd.DataFrame(rows)


def findings(table: pd.DataFrame) -> str:
    ratios = compare(table).dropna()
    if ratios.empty:
        return "No pair of scheduler results in this build (see the notes)."
    return (f"L3 scheduler / capacity-first throughput {ratios['throughput_ratio'].min():.2f}x to "
            f"{ratios['throughput_ratio'].max():.2f}x; mean TBT change {ratios['tbt_mean_change'].min():+.1%} to "
            f"{ratios['tbt_mean_change'].max():+.1%} (negative: lower); p99 TBT change "
            f"{ratios['tbt_p99_change'].min():+.1%} to {ratios['tbt_p99_change'].max():+.1%}.")


def plot(table: pd.DataFrame, path) -> None:
    long = pd.concat([table.assign(metric="throughput (tok/s)", value=table["throughput_tok_s"]),
                      table.assign(metric="mean TBT (s)", value=table["tbt_s.mean"])])
    long = long.assign(panel=long["model"] + ": " + long["metric"])
    grouped_bars(long, path, facet="panel", x="capacity_factor", hue="scheduler", y="value", ylabel="",
                 xlabel=f"DIMM capacity (x the {MEMORY} host's)", facet_label="",
                 title=f"Scheduler ablation: {SYSTEM} on {PLATFORM}, {' and '.join(MODELS)}, {WORKLOAD}")


def grids(options: StudyOptions) -> list[Grid]:
    """The serving runs of the study (``points.Grid``)."""
    return [Grid({"platform": PLATFORM, "workload": WORKLOAD, "system": SYSTEM}, {"model": MODELS},
                 (capacity_points()[1], {"scheduler": SCHEDULERS}))]


def scheduler_study(options: StudyOptions) -> StudyResult:
    labels, _ = capacity_points()
    [grid] = grids(options)
    raw = run_grid("scheduler", options, grid)
    repeated = pd.DataFrame([label for _ in MODELS for label in labels for _ in SCHEDULERS])
    keys = ["model", "scheduler"]
    table = pd.concat([repeated, pick(raw, keys, METRICS)], axis=1)
    table = table[keys + [c for c in table.columns if c not in keys]]
    return StudyResult(
        name="scheduler",
        title="scheduler ablation",
        table=table,
        method=(f"{SYSTEM} on {', '.join(MODELS)} / {WORKLOAD}, {options.request_count} requests, with the "
                f"capacity-first scheduler and the L3 scheduler, at {', '.join(f'{f:g}x' for f in CAPACITY_FACTORS)} "
                f"the DIMM capacity of the {MEMORY} host (denser chips, same ranks, same PIM bandwidth)."),
        paper="The L3 scheduler gives the same or better throughput with up to 70.9 % lower time between tokens.",
        findings=findings(table),
        plot=plot,
        notes=status_notes(raw, keys),
    )
