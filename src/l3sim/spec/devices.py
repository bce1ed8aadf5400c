"""Attention devices of the baseline systems and the GPU <-> attention-device communication knobs.

Every bandwidth and capacity a system uses comes from here, the GPU spec or
the host memory spec (``RunSpec.memory``), never from a literal in a system,
so scaling studies are overrides (``--set devices.hbm_pim.bw_multiplier=32``).
Sources: L3 paper (arXiv 2504.17584) section VI and its baselines
table; AttAcc (Park et al., ASPLOS 2024) for HBM-PIM.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from l3sim.spec.base import Spec


class HBMPIMSpec(Spec):
    """PIM inside the GPUs' HBM (AttAcc / NeuPIMs style): the KV cache shares the HBM with the weights."""

    bw_multiplier: float = Field(
        16.0,
        gt=0,
        description="internal PIM bandwidth / the HBM's external peak (AttAcc: 16x; the paper's 260.8 TB/s = "
        "16 x 16.3 TB/s of 8 A100s)",
    )
    bw_util: float = Field(
        1.0, gt=0, le=1, description="achieved share of the PIM peak (paper: baselines at maximal utilisation)"
    )


class HBMPIMExtSpec(Spec):
    """Separate HBM-PIM modules that hold only KV cache (the paper's HBM-PIM-EXT baseline)."""

    modules: int = Field(20, ge=1, description="HBM-PIM modules (paper: 20, 320 GB, 130.4 TB/s)")
    module_capacity_bytes: float = Field(16e9, gt=0, description="KV bytes per module (paper: 320 GB / 20)")
    module_bw_bytes_per_s: float = Field(
        6.52e12, gt=0, description="internal PIM bandwidth per module (paper: 130.4 TB/s / 20)"
    )
    bw_util: float = Field(1.0, gt=0, le=1, description="achieved share of the peak (paper: maximal utilisation)")


class CPUAttentionSpec(Spec):
    """Decode attention on the host CPU (NEO / FastDecode style), reading the KV cache from the DIMMs."""

    bw_util: float = Field(
        1.0,
        gt=0,
        le=1,
        description="achieved share of the host's peak DIMM bandwidth (RunSpec.memory.cpu_bw_bytes_per_s; "
        "paper: 406 GB/s at maximal utilisation)",
    )


class DIMMPIMSpec(Spec):
    """DIMM-PIM systems (l3, r-pim): which kernel variant times the l3 system's attention."""

    l3_variant: Literal["l3", "no-pipeline", "cpu-relayout"] = Field(
        "l3", description="PIM kernel variant of the l3 system (ablations: no-pipeline, cpu-relayout)"
    )
    ranks_per_layer: Annotated[int, Field(ge=1)] | Literal["auto"] = Field(
        "auto",
        description="ranks of one rankset (on different channels) that share one request-layer, its KV heads "
        "split evenly over them; must divide the replica's channels. 'auto': the most ranks that still give "
        "each rank enough KV heads to busy all its chips, gcd(replica channels, KV heads / (chips / N_hc)): "
        "16 for GPT-175B (N_hc = 8), 1 for QWEN-72B (GQA-8, N_hc = 1) on the paper's host. Not stated by the paper, whose 'layers interleaved across "
        "ranksets so the load stays balanced' needs every request to reach every rank; 1 puts a layer whole "
        "on one rank (docs/systems.md compares)",
    )


    layer_split: Literal["auto", "heads", "tokens"] = Field(
        "auto",
        description="how a request-layer spreads over its ranks: 'heads' (KV heads divided among them) or "
        "'tokens' (each rank holds every head for a share of the context; the host merges the partial "
        "softmax outputs, whose extra bytes, one q-sized vector per rank, are not charged). 'auto': heads "
        "when that reaches every channel of the replica (GPT-175B), else tokens (QWEN-72B). Not stated by "
        "the paper",
    )


class CommSpec(Spec):
    """GPU <-> attention-device transfers (L3 paper, section V-C)."""

    rankset_overlap: bool = Field(
        True,
        description="DIMM systems: one rankset communicates while the others compute (L3); false: transfers "
        "and PIM compute on a channel serialise",
    )


class DevicesSpec(Spec):
    """The attention devices of every system and the communication model."""

    hbm_pim: HBMPIMSpec = Field(default_factory=HBMPIMSpec)
    hbm_pim_ext: HBMPIMExtSpec = Field(default_factory=HBMPIMExtSpec)
    cpu: CPUAttentionSpec = Field(default_factory=CPUAttentionSpec)
    dimm_pim: DIMMPIMSpec = Field(default_factory=DIMMPIMSpec)
    comm: CommSpec = Field(default_factory=CommSpec)
