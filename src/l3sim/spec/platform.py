"""GPUs, links and the platform that puts them together."""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, Field

from l3sim.spec.base import Spec
from l3sim.spec.presets import preset_ref


class GPUSpec(Spec):
    """One GPU: dense FP16 peak, HBM bandwidth and capacity, NVLink bandwidth."""

    name: str
    peak_flops: float = Field(gt=0, description="dense FP16 tensor-core peak, FLOP/s")
    hbm_bw_bytes_per_s: float = Field(gt=0, description="HBM peak bandwidth, bytes/s")
    hbm_capacity_bytes: float = Field(gt=0, description="HBM capacity, bytes")
    nvlink_bw_bytes_per_s: float = Field(
        0.0, ge=0, description="NVLink bandwidth per GPU, both directions together, bytes/s (0: none)"
    )
    source: str = ""


class LinkSpec(Spec):
    """A point-to-point link (GPU <-> host): per-direction bandwidth and a fixed latency per transfer."""

    name: str
    bw_bytes_per_s: float = Field(gt=0, description="usable bandwidth per direction, bytes/s")
    latency_s: float = Field(0.0, ge=0, description="fixed latency added to every transfer, s")
    source: str = ""


class PlatformSpec(Spec):
    """A GPU server: its GPUs and the link from each GPU to the host."""

    name: str
    gpu: Annotated[GPUSpec, BeforeValidator(preset_ref("gpus"))]
    num_gpus: int = Field(8, ge=1)
    host_link: Annotated[LinkSpec, BeforeValidator(preset_ref("links"))]
    source: str = ""
