"""``account``: where the time goes in the headline case, each system's bound and losses (GPT-175B, OpenR1).

The same runs as ``l3sim demo`` / ``l3sim compare`` (every system on the paper's
platform), read through the bound-and-loss account of ``serving/account.py``
(docs/validation.md): each run's makespan = the bound (GPU and attention
device at their nominal peaks) + one term per loss category. The table has one
row per step and one column per system, as ``l3sim compare --explain`` prints
it; the figure is the waterfalls ``compare --out`` draws. The runs keep their
account (``runner.simulate_point_explained``) and go through the results store
like every study's, so a rerun reads them back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from l3sim.experiments.runner import simulate_point_explained
from l3sim.experiments.studies.base import StudyOptions, StudyResult
from l3sim.experiments.studies.points import Grid

MODEL, WORKLOAD, PLATFORM = "gpt-175b", "openr1", "dgx-a100"
SYSTEMS = ("gpu-only", "hbm-pim", "hbm-pim-ext", "cpu-offload", "r-pim", "l3")


def grids(options: StudyOptions) -> list[Grid]:
    """The serving runs of the study (``points.Grid``), kept with their account."""
    return [Grid({"platform": PLATFORM, "model": MODEL, "workload": WORKLOAD}, {"system": list(SYSTEMS)},
                 run_fn=simulate_point_explained)]


def account_study(options: StudyOptions) -> StudyResult:
    """Every system of :data:`SYSTEMS` on the headline case, under ``options.assumptions``."""
    from l3sim.experiments.studies.points import run_grid
    from l3sim.report.account import account_rows, plot_waterfall
    from l3sim.report.comparison import subject
    from l3sim.spec.run import build_run_spec

    [grid] = grids(options)
    raw = run_grid("account", options, grid)
    results = [_account_of(row) for row in raw.to_dict("records")]
    table = pd.DataFrame(account_rows(results))
    about = subject(results, [build_run_spec(platform=PLATFORM, model=MODEL, workload=WORKLOAD, system=SYSTEMS[0],
                                             **options.spec_fields)])

    def plot(_: pd.DataFrame, path: Path) -> None:
        plot_waterfall(results, Path(path), f"where the time goes: {about}")

    l3, gpu = results[SYSTEMS.index("l3")], results[SYSTEMS.index("gpu-only")]
    return StudyResult(
        name="account",
        title="Where the time goes: bound and losses per system",
        table=table,
        method=(f"Every system on {about}; each run's makespan split into its bound (GPU and attention device "
                "at nominal peak) and the losses of serving/account.py, in seconds and as a share of the makespan."),
        paper="The paper gives no such account; it explains L3's gain by batch size and the GPU-DIMM overlap "
              "(section VI); docs/validation.md reconciles our figures with its.",
        findings=(f"bound = {gpu.bound_s / gpu.makespan_s:.1%} of GPU-only's makespan and "
                  f"{l3.bound_s / l3.makespan_s:.1%} of L3's."),
        plot=plot,
    )


def _account_of(row: Mapping[str, Any]):
    """The part of a RunResult that the account's table, plot and title read, from a stored point."""
    from l3sim.errors import L3SimError
    from l3sim.serving.account import LOSS_CATEGORIES
    from l3sim.serving.result import RunResult

    if row["status"] != "ok":
        raise L3SimError(f"account study: the {row['system']} run ended with {row['status']}: {row['error']}")
    losses = {name: float(row[f"losses_s.{name}"]) for name in LOSS_CATEGORIES
              if not pd.isna(row.get(f"losses_s.{name}"))}  # a category a run has no term for is not stored
    return RunResult(
        system=row["system"], scheduler=row["scheduler"], model=row["model"], workload=row["workload"],
        tp=int(row["tp"]), dp=int(row["dp"]), requests=int(row["requests"]), makespan_s=float(row["makespan_s"]),
        bound_s=float(row["bound_s"]), losses_s=losses, batch_time_mean=float(row["batch_time_mean"]),
        capacity_batch_time_mean=float(row["capacity_batch_time_mean"]),
    )
