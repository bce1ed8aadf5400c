"""``pcie``: communication overhead of fixed batches, with and without rankset overlap (paper Fig. 15).

Not a serving run: for one sub-batch of D decodes at a given context, whose
attention stage also carries the other sub-batch's P prefills' KV, it
evaluates the systems area's cost models (``l3sim.hw.devices.dimm_pim`` for
decode attention, ``l3sim.hw.comm.build_comm`` for transfers) with
``devices.comm.rankset_overlap`` off and on. In the scheduler's terms
(L3_SYSTEM.md section 7) the attention stage is T_PIM = t_d + t_comm, and the
PCIe overhead is t_comm / T_PIM.

Decode attention of the D requests, placed to balance the ranks, ends with the
busiest rank: ceil(D / ranks) requests of the replica's ranks.
"""

from __future__ import annotations

import math

import pandas as pd

from l3sim.errors import MissingDependencyError
from l3sim.experiments.studies.base import StudyOptions, StudyResult
from l3sim.experiments.studies.plots import grouped_bars

PLATFORM, VARIANT = "dgx-a100", "l3"
#: (model, prefills P, prompt tokens, decodes D, context tokens): the paper's examples (section VI-E).
CASES = (
    ("gpt-175b", 4, 192, 64, 8192),
    ("gpt-175b", 4, 192, 48, 12288),
    ("qwen-72b", 2, 96, 64, 10240),
)


def _cost_models():
    try:
        from l3sim.hw.comm import build_comm
        from l3sim.hw.devices import dimm_pim
    except ImportError as exc:
        raise MissingDependencyError(f"study 'pcie' needs the systems area's cost models: {exc}") from None
    return build_comm, dimm_pim


def pcie_row(model: str, prefills: int, prompt_tokens: int, decodes: int, context_tokens: int,
             overlap: bool) -> dict:
    """The attention stage of one case: decode attention, link and DDR time, and the communication share."""
    from l3sim.spec.run import build_run_spec

    build_comm, dimm_pim = _cost_models()
    spec = build_run_spec([f"devices.comm.rankset_overlap={str(overlap).lower()}"], platform=PLATFORM,
                          model=model, workload="openr1")
    device = dimm_pim(spec, VARIANT)
    comm = build_comm(spec, device)
    per_rank = math.ceil(decodes / device.slots)
    attention_s = per_rank * (device.fixed_s + device.per_token_s * context_tokens)
    prefill_tokens = prefills * prompt_tokens
    comm_s = comm.attention_side_s(decodes, prefill_tokens)
    return {
        "model": model,
        "batch": f"{prefills}x{prompt_tokens} + {decodes}x{context_tokens // 1024}K",
        "rankset_overlap": overlap,
        "ranksets": device.ranksets,
        "decode_attention_s": attention_s,
        "pcie_sync_s": comm.pcie_sync_s(decodes),
        "ddr_stall_s": comm.ddr_stall_s(decodes, prefill_tokens),
        "comm_s": comm_s,
        "pcie_overhead": comm_s / (attention_s + comm_s),
    }


def findings(table: pd.DataFrame) -> str:
    by = table.groupby("rankset_overlap")["pcie_overhead"]
    low, high = by.min(), by.max()
    return (f"overhead {low[False]:.1%}-{high[False]:.1%} without rankset overlap, "
            f"{low[True]:.1%}-{high[True]:.1%} with it.")


def plot(table: pd.DataFrame, path) -> None:
    grouped_bars(table.assign(percent=100 * table["pcie_overhead"]), path, facet="model", x="batch",
                 hue="rankset_overlap", y="percent", ylabel="communication / attention stage (%)")


def pcie_study(options: StudyOptions) -> StudyResult:
    """Every case of :data:`CASES` with overlap off and on; ``options`` only names the output."""
    table = pd.DataFrame([pcie_row(*case, overlap) for case in CASES for overlap in (False, True)])
    return StudyResult(
        name="pcie",
        title="PCIe overhead and rankset overlap",
        table=table,
        method=(f"The attention stage of one sub-batch on {VARIANT} ({PLATFORM}, the paper's host) for fixed "
                "batches 'P x prompt + D x context': D decodes' attention on the DIMM-PIM plus their per-step "
                "vectors over PCIe and, on the DDR channels, those vectors and the other sub-batch's P prefills' "
                "KV; overhead = communication / (attention + communication), rankset overlap off and on."),
        paper="PCIe overhead falls from 3-7 % of execution time to 1.5-2.4 % with rankset overlap (Fig. 15).",
        findings=findings(table),
        plot=plot,
    )
