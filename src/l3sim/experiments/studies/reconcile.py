"""``reconcile``: from our ``realistic`` assumptions to the paper's, one assumption group at a time.

Step 0 runs every model and system under the ``realistic`` profile; step k
adds, as ``--set`` overrides, the ``paper`` profile's value of every setting
in groups 1..k (:data:`STEPS`, in that order) where the two profiles' resolved
specs differ; the last step is the ``paper`` profile. After every step the
table gives L3 / GPU-only and HBM-PIM / GPU-only throughput (makespan and
steady window), and L3's batch and latency per batch over GPU-only's (the
breakdown figure's ratios at full capacity), so each assumption's share of the
difference between our figures and the paper's can be read off.

The order goes from hardware to method: the platform's figures, the attention
devices, the GPU model, KV growth, the remaining serving and PIM settings, and
last the procedure. A group in which the profiles agree is a row with no change
(its points are the previous step's, run once by the store).
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from l3sim.experiments.studies.base import StudyOptions, StudyResult
from l3sim.experiments.studies.plots import grouped_bars
from l3sim.experiments.studies.points import Grid, run_grid
from l3sim.experiments.studies.tables import ok_value, status_notes
from l3sim.experiments.sweep import toml_literal

MODELS = ["gpt-175b", "qwen-72b", "opt-66b"]
SYSTEMS = ["gpu-only", "hbm-pim", "l3"]
WORKLOAD, PLATFORM = "openr1", "dgx-a100"
FROM_PROFILE, TO_PROFILE = "realistic", "paper"

#: The assumption groups, switched in this order: (label, the setting prefixes the group holds).
STEPS: list[tuple[str, tuple[str, ...]]] = [
    ("platform figures (Table I)", ("platform.", "memory.")),
    ("attention devices (baselines at maximal bandwidth)", ("devices.",)),
    ("GPU model (the AttAcc simulator's)", ("gpu.",)),
    ("KV growth without recompute pre-emption", ("serving.kv_reservation",)),
    ("other serving and PIM settings", ("serving.", "pim.")),
    ("procedure (1,000 requests, offline)", ("requests", "arrival", "seed")),
]
METRICS = ["throughput_tok_s", "steady_throughput_tok_s", "avg_batch_size", "iteration_latency_s.mean"]


def _group(key: str) -> int:
    """Index in :data:`STEPS` of the first group whose prefix matches ``key`` (a prefix without a dot is whole)."""
    for index, (_, prefixes) in enumerate(STEPS):
        if any(key == p or (p.endswith(".") and key.startswith(p)) for p in prefixes):
            return index
    raise ValueError(f"setting {key!r} of the {TO_PROFILE!r} profile belongs to no reconcile step")


def profile_changes() -> list[dict[str, Any]]:
    """Per step of :data:`STEPS`: the settings whose resolved value differs between the profiles, paper's value."""
    from l3sim.spec.assumptions import flatten_settings
    from l3sim.spec.run import build_run_spec

    specs = [flatten_settings(build_run_spec(platform=PLATFORM, model=MODELS[0], workload=WORKLOAD,
                                    assumptions=name).model_dump(mode="json"))
             for name in (FROM_PROFILE, TO_PROFILE)]
    changes: list[dict[str, Any]] = [{} for _ in STEPS]
    for key, value in specs[1].items():
        if key != "assumptions" and specs[0][key] != value:
            changes[_group(key)][key] = value
    return changes


def step_overrides(changes: list[dict[str, Any]], step: int, fixed: set[str]) -> list[str]:
    """``--set`` overrides of step ``step`` (groups 1..step switched); keys the study fixes itself are left out."""
    return [f"{key}={toml_literal(value)}" for group in changes[:step] for key, value in group.items()
            if key not in fixed]


def _ratio(rows: dict[str, pd.Series], num: str, den: str, metric: str) -> float:
    if num not in rows or den not in rows:
        return math.nan
    return ok_value(rows[num], metric) / ok_value(rows[den], metric)


def summarise_step(step: int, label: str, changed: str, raw: pd.DataFrame) -> list[dict[str, Any]]:
    """One row per model: the step and the ratios between its systems."""
    rows = []
    for model, group in raw.groupby("model", sort=False):
        by = {row["system"]: row for _, row in group.iterrows()}
        rows.append({
            "step": step, "assumption": label, "changed": changed, "model": model,
            "l3_over_gpu": _ratio(by, "l3", "gpu-only", "throughput_tok_s"),
            "hbm_pim_over_gpu": _ratio(by, "hbm-pim", "gpu-only", "throughput_tok_s"),
            "l3_over_hbm_pim": _ratio(by, "l3", "hbm-pim", "throughput_tok_s"),
            "steady_l3_over_gpu": _ratio(by, "l3", "gpu-only", "steady_throughput_tok_s"),
            "batch_l3_over_gpu": _ratio(by, "l3", "gpu-only", "avg_batch_size"),
            "latency_l3_over_gpu": _ratio(by, "l3", "gpu-only", "iteration_latency_s.mean"),
            **{f"{system}_tok_s": ok_value(row, "throughput_tok_s") for system, row in by.items()},
        })
    return rows


def findings(table: pd.DataFrame) -> str:
    """Per model: the ratios under each profile, and the step that moves L3 / GPU-only most."""
    parts = []
    last = table["step"].max()
    for model, group in table.groupby("model", sort=False):
        ends = {step: group[group["step"] == step].iloc[0] for step in (0, last)}
        text = "; ".join(
            f"{name}: L3/GPU-only {row['l3_over_gpu']:.2f}x (batch {row['batch_l3_over_gpu']:.2f}x at "
            f"{row['latency_l3_over_gpu']:.2f}x the latency per batch), HBM-PIM/GPU-only "
            f"{row['hbm_pim_over_gpu']:.2f}x, L3/HBM-PIM {row['l3_over_hbm_pim']:.2f}x"
            for name, row in ((FROM_PROFILE, ends[0]), (TO_PROFILE, ends[last])))
        moves = group["l3_over_gpu"].diff().abs()
        if moves.notna().any() and moves.max() > 0:
            biggest = group.loc[moves.idxmax()]
            text += f"; the largest single move of L3/GPU-only is step {int(biggest['step'])} ({biggest['assumption']})"
        parts.append(f"{model}: {text}")
    return ". ".join(parts) + "."


def plot(table: pd.DataFrame, path) -> None:
    """Per model, a group of bars per step: L3 / GPU-only and HBM-PIM / GPU-only throughput."""
    long = pd.concat([table.assign(ratio=name, value=table[column])
                      for column, name in (("l3_over_gpu", "L3 / GPU-only"),
                                           ("hbm_pim_over_gpu", "HBM-PIM / GPU-only"))])
    grouped_bars(long.assign(step=long["step"].astype(str)), path, facet="model", x="step", hue="ratio",
                 y="value", ylabel="throughput ratio", xlabel="step (0: realistic assumptions, last: the paper's)",
                 reference=1.0, reference_label="= GPU-only",
                 title=f"From realistic to the paper's assumptions: {', '.join(SYSTEMS)} on {PLATFORM}, {WORKLOAD}")


def grids(options: StudyOptions) -> list[Grid]:
    """The serving runs of each step, 0 to len(STEPS) (``points.Grid``)."""
    changes, fixed = profile_changes(), set(options.spec_fields)
    return [Grid({"platform": PLATFORM, "workload": WORKLOAD, "assumptions": FROM_PROFILE,
                  "set": step_overrides(changes, step, fixed)}, {"model": MODELS, "system": SYSTEMS})
            for step in range(len(STEPS) + 1)]


def reconcile_study(options: StudyOptions) -> StudyResult:
    """Run every step of :data:`STEPS` for :data:`MODELS` x :data:`SYSTEMS` on OpenR1 and tabulate the ratios."""
    changes = profile_changes()
    rows, raws = [], []
    for step, grid in enumerate(grids(options)):
        label = "realistic profile" if step == 0 else STEPS[step - 1][0]
        changed = "" if step == 0 else ", ".join(f"{k} = {toml_literal(v)}" for k, v in changes[step - 1].items())
        raw = run_grid("reconcile", options, grid)
        raws.append(raw)
        rows.extend(summarise_step(step, label, changed or ("(no change)" if step else ""), raw))
    table = pd.DataFrame(rows)
    return StudyResult(
        name="reconcile",
        title="from our assumptions to the paper's",
        table=table,
        method=(f"{', '.join(SYSTEMS)} x {', '.join(MODELS)} on {WORKLOAD} ({PLATFORM}), "
                f"{options.request_count} requests each. Step 0: the `{FROM_PROFILE}` assumption profile "
                f"(our defaults); each later step switches one group of settings to the `{TO_PROFILE}` "
                "profile's values (where the two differ), in this order: "
                + "; ".join(f"{i}. {label}" for i, (label, _) in enumerate(STEPS, start=1))
                + f". The last step equals the `{TO_PROFILE}` profile. The GPU step switches to l3sim's "
                "reimplementation of the AttAcc simulator's GPU model (docs/gpu-attacc.md). Ratios are of "
                "makespan throughput unless named steady (docs/serving.md); batch and latency per batch are "
                "L3's over GPU-only's (the breakdown figure's ratios at full capacity)."),
        paper=("L3 up to 3.94x over GPU-only and up to 5.15x over HBM-PIM (revision; 6.1x in the first "
               "version); GPT-175B on OpenR1 about 6.6x the GPU-only batch at about 2.2x the latency per "
               "batch (Fig. 10, 11)."),
        findings=findings(table),
        plot=plot,
        notes=status_notes(pd.concat(raws), ["model", "system"]),
    )
