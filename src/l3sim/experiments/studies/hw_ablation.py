"""``hw-ablation``: the paper's hardware ablation (section VI) as a reproduce study.

The rows come from :mod:`l3sim.hw.pim.ablation` unchanged, on the paper's host
memory (the ``dgx-a100-l3`` memory preset); this module draws them and wraps
them with the paper's statement.
"""

from __future__ import annotations

import pandas as pd

from l3sim.experiments.studies.base import StudyOptions, StudyResult
from l3sim.experiments.studies.plots import grouped_bars
from l3sim.hw.pim.ablation import BASE_VARIANT, hw_ablation_rows

MEMORY = "dgx-a100-l3"


def findings(table: pd.DataFrame) -> str:
    """Speed-up of L3 over the ablation base, and the smallest margin of a bank-level variant over rank-level PIM."""
    parts = []
    for label, group in table.groupby("attention", sort=False):
        by = group.pivot(index="context_tokens", columns="variant", values="latency_s")
        speedup = by[BASE_VARIANT] / by["l3"]
        margin = (by["rank-pim"] / by[["l3", "no-pipeline", "cpu-relayout"]].max(axis=1)).min()
        pipeline_cut = (1 - by["l3"] / by["no-pipeline"]).mean()
        parts.append(f"{label}: L3 {speedup.min():.2f}x-{speedup.max():.2f}x faster than {BASE_VARIANT}, "
                     f"pipelining cuts latency by {pipeline_cut:.1%} on average, every bank-level variant "
                     f"at least {margin:.2f}x faster than rank-level PIM")
    return "; ".join(parts) + "."


def plot(table: pd.DataFrame, path) -> None:
    """Grouped bars: one panel per head set, a group per context length, a bar per variant, normalised to
    the ablation base (the dashed line at 1)."""
    grouped_bars(table, path, facet="attention", x="context_tokens", hue="variant", y="normalized_latency",
                 ylabel=f"attention latency / {BASE_VARIANT}", xlabel="context tokens", facet_label="",
                 sharey=True, reference=1.0, reference_label=f"= {BASE_VARIANT}",
                 title=f"PIM hardware ablation: decode attention per variant on the {MEMORY} host memory")


def hw_ablation_reproduce(options: StudyOptions) -> StudyResult:
    """The ablation rows on the paper's host (fast latency model); ``options`` only names the output."""
    from l3sim.hw.pim.system import load_pim_system

    table = pd.DataFrame(hw_ablation_rows(load_pim_system(MEMORY, [])))
    return StudyResult(
        name="hw-ablation",
        title="PIM hardware ablation",
        table=table,
        method=(f"Attention latency of each PIM variant on the {MEMORY} host (l3sim.hw.pim fast model), "
                f"per context length, normalised to {BASE_VARIANT}."),
        paper=("Pipelining cuts attention latency by 27.9 % (MHA) and 74.4 % (GQA); the in-flight re-layout "
               "by up to 17 %; all together 1.42x to 4.18x; every bank-level variant is more than 1.5x "
               "faster than rank-level PIM."),
        findings=findings(table),
        plot=plot,
    )
