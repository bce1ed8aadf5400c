"""``pcie``: communication overhead of fixed batches, with and without rankset overlap (paper Fig. 15).

Not a serving run: for one sub-batch of D decodes at a given context, whose
attention stage also carries the other sub-batch's P prefills' KV, it asks
the L3 system's what-if API (docs/systems.md: ``pim_stage_s`` for T_ATT with
the decodes placed as the system places them, ``comm`` for the transfers)
with ``devices.comm.rankset_overlap`` off and on. In the scheduler's terms
(L3 paper, section V) the attention stage is T_PIM = t_d + t_comm, and the
PCIe overhead is t_comm / T_PIM.
"""

from __future__ import annotations

import pandas as pd

from l3sim.experiments.studies.base import StudyOptions, StudyResult
from l3sim.experiments.studies.plots import grouped_bars

PLATFORM, SYSTEM = "dgx-a100", "l3"
#: (model, prefills P, prompt tokens, decodes D, context tokens): the paper's examples (section VI-E).
CASES = (
    ("gpt-175b", 4, 192, 64, 8192),
    ("gpt-175b", 4, 192, 48, 12288),
    ("qwen-72b", 2, 96, 64, 10240),
)


def pcie_row(model: str, prefills: int, prompt_tokens: int, decodes: int, context_tokens: int,
             overlap: bool, assumptions: str | None = None) -> dict:
    """The attention stage of one case: decode attention, link and DDR time, and the communication share."""
    from l3sim.serving.systems import build_system
    from l3sim.spec.run import build_run_spec

    spec = build_run_spec([f"devices.comm.rankset_overlap={str(overlap).lower()}"], platform=PLATFORM,
                          model=model, workload="openr1", system=SYSTEM, assumptions=assumptions)
    system = build_system(spec)
    prefill_tokens = prefills * prompt_tokens
    stage_s = system.pim_stage_s([context_tokens] * decodes, prefill_tokens)
    comm_s = system.comm.attention_side_s(decodes, prefill_tokens)
    return {
        "model": model,
        "batch": f"{prefills}x{prompt_tokens} + {decodes}x{context_tokens // 1024}K",
        "rankset_overlap": overlap,
        "ranksets": system.device.ranksets,
        "decode_attention_s": stage_s - comm_s,
        "pcie_sync_s": system.comm.pcie_sync_s(decodes),
        "ddr_stall_s": system.comm.ddr_stall_s(decodes, prefill_tokens),
        "comm_s": comm_s,
        "pcie_overhead": comm_s / stage_s,
    }


def findings(table: pd.DataFrame) -> str:
    by = table.groupby("rankset_overlap")["pcie_overhead"]
    low, high = by.min(), by.max()
    return (f"overhead {low[False]:.1%}-{high[False]:.1%} without rankset overlap, "
            f"{low[True]:.1%}-{high[True]:.1%} with it.")


def plot(table: pd.DataFrame, path) -> None:
    grouped_bars(table.assign(percent=100 * table["pcie_overhead"]), path, facet="model", x="batch",
                 hue="rankset_overlap", y="percent", ylabel="communication / attention stage (%)",
                 xlabel="batch: prefills x prompt tokens + decodes x context", sharey=True,
                 hue_labels={False: "rankset overlap off", True: "rankset overlap on"},
                 title=f"PCIe overhead of one attention stage: {SYSTEM} on {PLATFORM}, fixed batches (no trace)")


def pcie_study(options: StudyOptions) -> StudyResult:
    """Every case of :data:`CASES` with overlap off and on, under ``options.assumptions``."""
    table = pd.DataFrame([pcie_row(*case, overlap, options.assumptions) for case in CASES
                          for overlap in (False, True)])
    return StudyResult(
        name="pcie",
        title="PCIe overhead and rankset overlap",
        table=table,
        method=(f"The attention stage of one sub-batch on {SYSTEM} ({PLATFORM}, the paper's host) for fixed "
                "batches 'P x prompt + D x context': D decodes' attention on the DIMM-PIM plus their per-step "
                "vectors over PCIe and, on the DDR channels, those vectors and the other sub-batch's P prefills' "
                "KV; overhead = communication / (attention + communication), rankset overlap off and on."),
        paper="PCIe overhead falls from 3-7 % of execution time to 1.5-2.4 % with rankset overlap (Fig. 15).",
        findings=findings(table),
        plot=plot,
    )
