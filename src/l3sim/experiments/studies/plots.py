"""Figures the studies share: grouped bars and lines, one panel per value of a facet column."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from l3sim.outputs import save_figure


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _panels(table: pd.DataFrame, facet: str):
    plt = _pyplot()
    facets = list(dict.fromkeys(table[facet]))
    fig, axes = plt.subplots(1, len(facets), figsize=(4.5 * len(facets), 3.8), squeeze=False)
    return plt, fig, list(zip(facets, axes[0]))


def _finish(plt, fig, axes, path: Path) -> None:
    handles, labels = axes[-1].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="upper center", ncol=min(len(labels), 6), fontsize="small",
                   bbox_to_anchor=(0.5, 1.0))
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    save_figure(fig, path, dpi=110)
    plt.close(fig)


def grouped_bars(table: pd.DataFrame, path: Path, *, facet: str, x: str, hue: str, y: str, ylabel: str,
                 log: bool = False) -> None:
    """One panel per ``facet`` value; a group of bars per ``x`` value, a bar per ``hue`` value; NaN bars left out."""
    plt, fig, panels = _panels(table, facet)
    hues = list(dict.fromkeys(table[hue]))
    width = 0.8 / max(len(hues), 1)
    for value, ax in panels:
        mine = table[table[facet] == value]
        xs = list(dict.fromkeys(mine[x]))
        for k, h in enumerate(hues):
            ys = [mine[(mine[x] == v) & (mine[hue] == h)][y].mean() for v in xs]
            ax.bar([i + k * width for i in range(len(xs))], ys, width, label=str(h))
        ax.set_xticks([i + width * (len(hues) - 1) / 2 for i in range(len(xs))], [str(v) for v in xs])
        ax.set_title(f"{facet} = {value}", fontsize="medium")
        ax.set_ylabel(ylabel)
        if log:
            ax.set_yscale("log")
    _finish(plt, fig, [ax for _, ax in panels], path)


def lines(table: pd.DataFrame, path: Path, *, facet: str, x: str, hue: str, y: str, ylabel: str,
          xlabel: str | None = None) -> None:
    """One panel per ``facet`` value; a line of ``y`` against ``x`` per ``hue`` value."""
    plt, fig, panels = _panels(table, facet)
    for value, ax in panels:
        mine = table[table[facet] == value]
        for h in dict.fromkeys(mine[hue]):
            part = mine[mine[hue] == h].sort_values(x)
            ax.plot(part[x], part[y], marker="o", label=str(h))
        ax.set_title(f"{facet} = {value}", fontsize="medium")
        ax.set_xlabel(xlabel or x)
        ax.set_ylabel(ylabel)
    _finish(plt, fig, [ax for _, ax in panels], path)
