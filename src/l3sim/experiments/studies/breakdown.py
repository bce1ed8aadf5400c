"""``breakdown``: where L3's gain comes from (paper Fig. 11): batch size, throughput and latency per batch.

Each system runs with 20, 40, 60, 80 and 100 % of its own KV-cache capacity
(``serving.kv_capacity_fraction``) on OpenR1, for GPT-175B and QWEN-72B.
The table carries the KV capacity each run reports (``kv_capacity_tokens``),
so a system that ignores the fraction shows up at once (and gets a note).
"""

from __future__ import annotations

import math

import pandas as pd

from l3sim.experiments.studies.base import StudyOptions, StudyResult
from l3sim.experiments.studies.plots import lines
from l3sim.experiments.studies.points import Grid, run_grid
from l3sim.experiments.studies.tables import ok_value, pick, status_notes

SYSTEMS = ["gpu-only", "hbm-pim", "l3"]
MODELS = ["gpt-175b", "qwen-72b"]
FRACTIONS = [0.2, 0.4, 0.6, 0.8, 1.0]
WORKLOAD, PLATFORM = "openr1", "dgx-a100"
FRACTION_KEY = "serving.kv_capacity_fraction"
METRICS = ["avg_batch_size", "throughput_tok_s", "iteration_latency_s.mean", "kv_capacity_tokens", "oom"]
KEYS = ["model", "system", FRACTION_KEY]
#: Relative slack when checking that a run's KV capacity follows the fraction (whole blocks are rounded down).
CAPACITY_RTOL = 0.02


def fraction_notes(table: pd.DataFrame) -> list[str]:
    """A note for each (model, system) whose reported KV capacity does not scale with the fraction."""
    notes = []
    for (model, system), group in table.groupby(["model", "system"], sort=False):
        full = group.loc[group[FRACTION_KEY] == 1.0, "kv_capacity_tokens"]
        if not len(full) or not full.iloc[0] or math.isnan(full.iloc[0]):
            continue
        expected = group[FRACTION_KEY] * float(full.iloc[0])
        off = (group["kv_capacity_tokens"] - expected).abs() > CAPACITY_RTOL * float(full.iloc[0])
        if off.any():
            notes.append(f"{system} / {model}: the KV capacity it reports does not follow {FRACTION_KEY} "
                         "(the knob is not applied by this system in this build)")
    return notes


def findings(table: pd.DataFrame) -> str:
    full = table[table[FRACTION_KEY] == 1.0]
    parts = []
    for model, group in full.groupby("model", sort=False):
        by = {row["system"]: row for _, row in group.iterrows()}
        if "l3" not in by or "gpu-only" not in by:
            continue
        batch = ok_value(by["l3"], "avg_batch_size") / ok_value(by["gpu-only"], "avg_batch_size")
        latency = ok_value(by["l3"], "iteration_latency_s.mean") / ok_value(by["gpu-only"], "iteration_latency_s.mean")
        tput = ok_value(by["l3"], "throughput_tok_s") / ok_value(by["gpu-only"], "throughput_tok_s")
        if any(math.isnan(v) for v in (batch, latency, tput)):
            continue
        parts.append(f"{model}: L3 runs {batch:.2f}x GPU-only's average batch at {latency:.2f}x its latency per "
                     f"batch, {tput:.2f}x its throughput")
    return "; ".join(parts) + "." if parts else "No L3 and GPU-only pair in this build (see the notes)."


def plot(table: pd.DataFrame, path) -> None:
    panels = []
    for metric, label in (("avg_batch_size", "avg batch"), ("throughput_tok_s", "tok/s"),
                          ("iteration_latency_s.mean", "s per batch")):
        panels.append(table.assign(panel=table["model"] + ": " + label, value=table[metric]))
    lines(pd.concat(panels), path, facet="panel", x=FRACTION_KEY, hue="system", y="value", ylabel="",
          xlabel="share of the system's KV capacity", facet_label="",
          title=f"Batch, throughput and latency per batch against KV capacity: {', '.join(SYSTEMS)} on "
                f"{PLATFORM}, {' and '.join(MODELS)}, {WORKLOAD}")


def grids(options: StudyOptions) -> list[Grid]:
    """The serving runs of the study (``points.Grid``)."""
    return [Grid({"platform": PLATFORM, "workload": WORKLOAD},
                 {"model": MODELS, "system": SYSTEMS, FRACTION_KEY: FRACTIONS})]


def breakdown_study(options: StudyOptions) -> StudyResult:
    [grid] = grids(options)
    raw = run_grid("breakdown", options, grid)
    table = pick(raw, KEYS, METRICS)
    return StudyResult(
        name="breakdown",
        title="batch size and latency per batch at 20-100 % capacity",
        table=table,
        method=(f"{', '.join(SYSTEMS)} on {', '.join(MODELS)} / {WORKLOAD}, {options.request_count} requests, "
                f"each at {', '.join(f'{f:.0%}' for f in FRACTIONS)} of its own KV-cache capacity "
                f"({FRACTION_KEY}); latency per batch is the mean iteration time."),
        paper=("The gain comes from batch size: GPT-175B on OpenR1 runs about 6.6x the GPU-only batch at about "
               "2.2x the latency per batch (Fig. 11); up to 14.3x larger batches overall."),
        findings=findings(table),
        plot=plot,
        notes=status_notes(raw, KEYS) + fraction_notes(table),
    )
