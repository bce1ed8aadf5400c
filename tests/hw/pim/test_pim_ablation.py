"""The hardware-ablation study's rows (fast model on the paper's DDR4-3200 rank); tests/test_report_plots.py
checks its figure."""

from __future__ import annotations

from l3sim.hw.pim.ablation import ABLATION_CONTEXTS, hw_ablation_rows
from l3sim.spec.pim import VARIANTS


def test_rows_cover_the_grid_and_are_normalised_to_cpu_relayout(system):
    rows = hw_ablation_rows(system)
    assert len(rows) == 2 * len(ABLATION_CONTEXTS) * len(VARIANTS)
    assert {"attention", "context_tokens", "variant", "normalized_latency"} <= set(rows[0])
    for row in rows:
        if row["variant"] == "cpu-relayout":
            assert row["normalized_latency"] == 1.0
    # the paper's qualitative result: every bank-level variant beats rank-level PIM by more than 1.5x
    for attention in {r["attention"] for r in rows}:
        for tokens in ABLATION_CONTEXTS:
            mine = {r["variant"]: r["normalized_latency"] for r in rows
                    if r["attention"] == attention and r["context_tokens"] == tokens}
            assert mine["rank-pim"] > 1.5 * max(mine["l3"], mine["no-pipeline"], mine["cpu-relayout"])

