"""``energy``: energy per output token of GPU-only, HBM-PIM and L3 (GPT-175B, OpenR1), split by part.

Each system's serving run goes through the shared store (``run_grid``); its
energy comes from ``l3sim.experiments.energy_accounting.run_energy`` with the default
:class:`~l3sim.spec.energy.EnergySpec` (every per-event energy documented
with its source in docs/energy.md). Parts: GPU FC (FLOPs and weight reads),
attention (device-specific: HBM reads, HBM-PIM in-bank reads and MACs, or
the DIMM-PIM kernel's DRAM events), background (static power x makespan).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from l3sim.errors import L3SimError
from l3sim.experiments.studies.base import StudyOptions, StudyResult
from l3sim.experiments.studies.points import Grid, run_grid
from l3sim.experiments.studies.tables import status_notes
from l3sim.outputs import save_figure

SYSTEMS = ["gpu-only", "hbm-pim", "l3"]
MODEL, WORKLOAD, PLATFORM = "gpt-175b", "openr1", "dgx-a100"
PARTS = ["gpu_fc_j", "attention_j", "background_j"]
COLUMNS = ["system", "energy_per_token_j", *PARTS, "throughput_tok_s", "makespan_s"]


def energy_rows(raw: pd.DataFrame, fields: dict[str, Any]) -> tuple[pd.DataFrame, list[str]]:
    """One row per finished run with its energy per output token and parts; a note per run without one."""
    from l3sim.experiments.energy_accounting import run_energy
    from l3sim.spec.run import build_run_spec

    rows, notes = [], []
    for _, row in raw.iterrows():
        if row.get("status") != "ok":
            continue
        spec = build_run_spec(platform=PLATFORM, model=MODEL, workload=WORKLOAD, system=row["system"], **fields)
        try:
            energy = run_energy(spec, row.to_dict()).to_dict()
        except L3SimError as exc:
            notes.append(f"{row['system']}: no energy: {exc}")
            continue
        rows.append({**{k: energy[k] for k in ("system", "energy_per_token_j", *PARTS)},
                     "throughput_tok_s": row.get("throughput_tok_s"), "makespan_s": row.get("makespan_s")})
    return pd.DataFrame(rows, columns=COLUMNS), notes


def plot(table: pd.DataFrame, path: Path) -> None:
    """Stacked bars: energy per output token of each system, split into GPU FC, attention and background."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    bottom = [0.0] * len(table)
    for part, label in zip(PARTS, ("GPU FC", "attention", "background")):
        values = table[part].tolist()
        ax.bar(table["system"], values, bottom=bottom, label=label)
        bottom = [b + v for b, v in zip(bottom, values)]
    ax.set_ylabel("energy per output token (J)")
    ax.set_xlabel("system")
    ax.set_title(f"Energy per output token on {PLATFORM}: {MODEL}, {WORKLOAD}", fontsize="medium")
    ax.legend(fontsize="small")
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    plt.close(fig)


def findings(table: pd.DataFrame) -> str:
    """Energy per token of each system, and L3's against each baseline."""
    by = {row["system"]: row for _, row in table.iterrows()}
    parts = [f"{name}: {row['energy_per_token_j']:.3g} J/token (FC {row['gpu_fc_j']:.3g}, attention "
             f"{row['attention_j']:.3g}, background {row['background_j']:.3g})" for name, row in by.items()]
    if "l3" in by:
        for other in ("gpu-only", "hbm-pim"):
            if other in by and by["l3"]["energy_per_token_j"] > 0:
                ratio = by[other]["energy_per_token_j"] / by["l3"]["energy_per_token_j"]
                if not math.isnan(ratio):
                    parts.append(f"{other} uses {ratio:.2f}x L3's energy per token")
    return "; ".join(parts) + "." if parts else "No finished run in this build (see the notes)."


def grids(options: StudyOptions) -> list[Grid]:
    """The serving runs of the study (``points.Grid``)."""
    return [Grid({"platform": PLATFORM, "model": MODEL, "workload": WORKLOAD}, {"system": SYSTEMS})]


def energy_study(options: StudyOptions) -> StudyResult:
    """Run GPU-only, HBM-PIM and L3 on GPT-175B / OpenR1 and split each run's energy per output token."""
    [grid] = grids(options)
    raw = run_grid("energy", options, grid)
    table, notes = energy_rows(raw, options.spec_fields)
    return StudyResult(
        name="energy",
        title="energy per output token",
        table=table,
        method=(f"{', '.join(SYSTEMS)} on {MODEL} / {WORKLOAD} ({PLATFORM}, {options.request_count} requests, "
                "offline); energy = GPU FC (FLOPs x pJ/FLOP + weight reads x HBM pJ/byte) + attention "
                "(device event counts x per-event energies) + background (static power x makespan), "
                "per output token, with the documented defaults of docs/energy.md."),
        paper=("The paper reports L3 as more energy-efficient than the baselines but gives no energy "
               "figure to compare with (L3 paper, section VI)."),
        findings=findings(table),
        plot=plot,
        notes=status_notes(raw, ["system"]) + notes,
    )
