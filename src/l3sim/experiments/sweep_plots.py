"""Plots of a sweep's results table: one PNG per ``[[output.plots]]`` entry (matplotlib, headless)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from l3sim.errors import L3SimError
from l3sim.experiments.store import atomic_write
from l3sim.experiments.sweep import PlotSpec


def plot_file_name(plot: PlotSpec) -> str:
    """``<y>_vs_<x>[_by_<hue>].png`` with anything but letters, digits, ``._-`` replaced by ``_``."""
    stem = f"{plot.y}_vs_{plot.x}" + (f"_by_{plot.hue}" if plot.hue else "")
    return re.sub(r"[^A-Za-z0-9._-]", "_", stem) + ".png"


def draw_plot(table: pd.DataFrame, plot: PlotSpec, path: Path, grid_keys: list[str]) -> None:
    """Draw ``y`` against ``x``, one line per ``hue`` value, from the rows whose status is "ok".

    Where other grid keys vary too, each line shows the mean of ``y`` over them
    (the title says so): a plot has two dimensions, a grid may have more.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if plot.y not in table.columns:
        raise L3SimError(f"plot y = {plot.y!r}: no such column in the results ({', '.join(map(str, table.columns))})")
    ok = table[table["status"] == "ok"]
    values = pd.to_numeric(ok[plot.y], errors="coerce")
    if values.isna().any():
        raise L3SimError(f"plot y = {plot.y!r}: the metric is not numeric in every finished point")
    ok = ok.assign(**{plot.y: values})
    numeric_x = pd.api.types.is_numeric_dtype(ok[plot.x])
    categories = list(dict.fromkeys(table[plot.x]))
    groups = ok.groupby(plot.hue, sort=False) if plot.hue else [(None, ok)]
    figure, axes = plt.subplots(figsize=(6.4, 4.2))
    for hue_value, rows in groups:
        series = rows.groupby(plot.x, sort=False)[plot.y].mean()
        series = series.sort_index() if numeric_x else series.reindex([c for c in categories if c in series.index])
        xs = series.index if numeric_x else [categories.index(c) for c in series.index]
        axes.plot(xs, series.values, marker="o", label=None if plot.hue is None else f"{plot.hue}={hue_value}")
    if not numeric_x:
        axes.set_xticks(range(len(categories)), [str(c) for c in categories], rotation=30, ha="right")
    by = [plot.x] + ([plot.hue] if plot.hue else [])
    cells = table.groupby(by, sort=False)
    averaged = [k for k in grid_keys if k not in by and cells[k].nunique().max() > 1]
    axes.set_xlabel(plot.x)
    axes.set_ylabel(plot.y)
    axes.ticklabel_format(axis="y", useOffset=False)  # absolute values on the axis, not "+5.723"
    axes.set_title(f"{plot.y} vs {plot.x}" + (f" (mean over {', '.join(averaged)})" if averaged else ""), fontsize=9)
    if plot.hue:
        axes.legend(fontsize=8)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    atomic_write(path, lambda tmp: figure.savefig(tmp, dpi=120, format="png"))
    plt.close(figure)
