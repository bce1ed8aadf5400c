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


def _panels(table: pd.DataFrame, facet: str, sharey: bool = False):
    plt = _pyplot()
    facets = list(dict.fromkeys(table[facet]))
    fig, axes = plt.subplots(1, len(facets), figsize=(4.5 * len(facets), 4.2), squeeze=False, sharey=sharey)
    return plt, fig, list(zip(facets, axes[0]))


def _panel_title(facet: str, facet_label: str | None, value: object) -> str:
    """'facet = value'; ``facet_label`` names the facet instead, and "" leaves the value alone."""
    label = facet if facet_label is None else facet_label
    return f"{label} = {value}" if label else str(value)


def _finish(plt, fig, axes, path: Path, title: str) -> None:
    """The figure's title (``title``: what ran, on which system, model and workload), one legend for every
    panel under it, both above the panels so that no legend covers a bar; then save."""
    fig.suptitle(title, fontsize="medium", y=0.99)
    handles, labels = axes[-1].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="upper center", ncol=min(len(labels), 7), fontsize="small",
                   bbox_to_anchor=(0.5, 0.93))
    fig.tight_layout(rect=(0, 0, 1, 0.87))
    save_figure(fig, path, dpi=110)
    plt.close(fig)


def _log_ticks(ax) -> None:
    """Plain numbers (0.2, 0.5, 1, 2) on a log axis instead of powers of ten."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def grouped_bars(table: pd.DataFrame, path: Path, *, facet: str, x: str, hue: str, y: str, ylabel: str,
                 xlabel: str, title: str, log: bool = False, hue_labels: dict | None = None,
                 facet_label: str | None = None, sharey: bool = False, reference: float | None = None,
                 reference_label: str = "") -> None:
    """One panel per ``facet`` value; a group of bars per ``x`` value, a bar per ``hue`` value; NaN bars left out.

    ``hue_labels`` maps hue values to legend text (else the value itself); ``sharey`` puts every panel on
    one y scale; ``reference`` draws a dashed line at that y (e.g. 1.0 for ratios) with
    ``reference_label`` in the legend.
    """
    plt, fig, panels = _panels(table, facet, sharey)
    hues = list(dict.fromkeys(table[hue]))
    width = 0.8 / max(len(hues), 1)
    for value, ax in panels:
        mine = table[table[facet] == value]
        xs = list(dict.fromkeys(mine[x]))
        for k, h in enumerate(hues):
            ys = [mine[(mine[x] == v) & (mine[hue] == h)][y].mean() for v in xs]
            ax.bar([i + k * width for i in range(len(xs))], ys, width, label=(hue_labels or {}).get(h, str(h)))
        ax.set_xticks([i + width * (len(hues) - 1) / 2 for i in range(len(xs))], [str(v) for v in xs])
        ax.set_title(_panel_title(facet, facet_label, value), fontsize="medium")
        ax.set_xlabel(xlabel)
        if not sharey or ax is panels[0][1]:
            ax.set_ylabel(ylabel)
        if reference is not None:
            ax.axhline(reference, color="black", linestyle="--", linewidth=1, label=reference_label)
        if log:
            ax.set_yscale("log")
            _log_ticks(ax)
    _finish(plt, fig, [ax for _, ax in panels], path, title)


def lines(table: pd.DataFrame, path: Path, *, facet: str, x: str, hue: str, y: str, ylabel: str,
          xlabel: str, title: str, facet_label: str | None = None) -> None:
    """One panel per ``facet`` value; a line of ``y`` against ``x`` per ``hue`` value."""
    plt, fig, panels = _panels(table, facet)
    for value, ax in panels:
        mine = table[table[facet] == value]
        for h in dict.fromkeys(mine[hue]):
            part = mine[mine[hue] == h].sort_values(x)
            ax.plot(part[x], part[y], marker="o", label=str(h))
        ax.set_title(_panel_title(facet, facet_label, value), fontsize="medium")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
    _finish(plt, fig, [ax for _, ax in panels], path, title)
