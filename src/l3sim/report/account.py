"""The bound-and-loss account of runs (``l3sim.serving.account``) as table rows and as a waterfall chart.

Rows go bound -> each loss -> achieved (the makespan), one column per run, in seconds and as a share of
the makespan; the waterfall draws the same per run: a bar for the bound, one floating bar per loss
stacked on it, and a bar for the makespan.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

from l3sim.outputs import save_figure
from l3sim.serving.account import LOSS_CATEGORIES
from l3sim.serving.result import RunResult


def _has_account(result: RunResult) -> bool:
    return bool(result.losses_s) and math.isfinite(result.bound_s)


def account_rows(results: Sequence[RunResult]) -> list[dict[str, Any]]:
    """One row per step (bound, each loss, achieved, then the time-averaged batches); one column per run,
    named by its system (with its index if two runs share it): 'seconds (share of the makespan)'."""
    names = [r.system if [x.system for x in results].count(r.system) == 1 else f"{r.system} #{i}"
             for i, r in enumerate(results)]

    def cell(result: RunResult, seconds: float) -> str:
        if not _has_account(result):
            return "-"
        return f"{seconds:,.1f} s ({seconds / result.makespan_s:.1%})"

    steps = [("bound", lambda r: r.bound_s)] + [
        (f"+ {name}", lambda r, name=name: r.losses_s.get(name, 0.0)) for name in LOSS_CATEGORIES
    ] + [("= makespan", lambda r: r.makespan_s)]
    rows = [{"step": label, **{n: cell(r, value(r)) for n, r in zip(names, results)}} for label, value in steps]
    for label, attr in (("batch (time mean)", "batch_time_mean"), ("batch capacity allows", "capacity_batch_time_mean")):
        rows.append({"step": label, **{n: f"{getattr(r, attr):.1f}" for n, r in zip(names, results)}})
    return rows


def plot_waterfall(results: Sequence[RunResult], path: Path, title: str = "where the time goes") -> Path:
    """One waterfall per run with an account (bound -> each loss -> makespan), side by side, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [r for r in results if _has_account(r)]
    fig, axes = plt.subplots(1, max(1, len(shown)), figsize=(4.2 * max(1, len(shown)), 4.6), squeeze=False)
    labels = ["bound", *LOSS_CATEGORIES, "makespan"]
    for ax, result in zip(axes[0], shown):
        level = result.bound_s
        ax.bar(0, level, color="tab:green")
        for i, name in enumerate(LOSS_CATEGORIES, start=1):
            loss = result.losses_s.get(name, 0.0)
            ax.bar(i, loss, bottom=level, color="tab:red" if loss > 0 else "lightgrey")
            level += loss
        ax.bar(len(labels) - 1, result.makespan_s, color="tab:blue")
        ax.set_xticks(range(len(labels)), labels, rotation=70, ha="right", fontsize="small")
        ax.set_ylabel("seconds")
        ax.set_title(f"{result.system} / {result.model}", fontsize="medium")
    fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    plt.close(fig)
    return Path(path)
