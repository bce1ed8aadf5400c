"""GPUs, links and the platform that puts them together."""

from __future__ import annotations

import warnings
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, model_validator

from l3sim.spec.base import Spec, SpecWarning
from l3sim.spec.gpu_calibration import GPUCalibrationSpec
from l3sim.spec.presets import preset_ref


class GPUSpec(Spec):
    """One GPU: dense FP16 peak, HBM bandwidth and capacity, NVLink bandwidth, SM count and its calibration."""

    name: str
    peak_flops: float = Field(gt=0, description="dense FP16 tensor-core peak, FLOP/s")
    hbm_bw_bytes_per_s: float = Field(gt=0, description="HBM peak bandwidth, bytes/s")
    hbm_capacity_bytes: float = Field(gt=0, description="HBM capacity, bytes")
    nvlink_bw_bytes_per_s: float = Field(
        0.0, ge=0, description="NVLink bandwidth per GPU, both directions together, bytes/s (0: none)"
    )
    num_sms: int = Field(108, ge=1, description="streaming multiprocessors (datasheet; A100: 108)")
    sm_clock_hz: float = Field(
        1.41e9, gt=0, description="SM boost clock, Hz (datasheet; A100: 1,410 MHz); latency-bound kernels scale with it"
    )
    max_threads_per_sm: int = Field(
        2048, ge=1,
        description="resident threads per SM (CUDA programming guide, compute capability table: 2048 for "
        "8.0 and 9.0, 1536 for 8.6); sets how many row-kernel thread blocks run at once",
    )
    max_blocks_per_sm: int = Field(
        32, ge=1,
        description="resident thread blocks per SM (CUDA programming guide, compute capability table: 32 for "
        "8.0 and 9.0, 16 for 8.6); caps the row kernels' small blocks",
    )
    calibration: GPUCalibrationSpec = Field(
        default_factory=GPUCalibrationSpec,
        description="achieved efficiencies and kernel overheads of the calibrated operator model",
    )
    source: str = ""

    @model_validator(mode="before")
    @classmethod
    def _assumed_datasheet_numbers(cls, data: Any) -> Any:
        """A GPU described without the SM numbers the calibrated model needs (a preset or result file written
        before they existed) gets the A100's, with a SpecWarning: they change its elementwise kernels' times."""
        if isinstance(data, dict):
            missing = [name for name in SM_DATASHEET_FIELDS if name not in data]
            if missing:
                assumed = ", ".join(f"{name} = {cls.model_fields[name].default:g}" for name in missing)
                warnings.warn(f"GPU {data.get('name', '?')!r} states no {', '.join(missing)}: the A100's {assumed} "
                              "are assumed; add its datasheet values to its preset", SpecWarning, stacklevel=2)
        return data


#: The SM numbers a GPU preset should state (their defaults, the A100's, are assumed when it does not).
SM_DATASHEET_FIELDS = ("sm_clock_hz", "max_threads_per_sm", "max_blocks_per_sm")


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
    allreduce_latency_s: float = Field(
        45.7e-6, ge=0,
        description="fixed time of one NCCL all-reduce call within the server, s (fit to the Vidur DGX-A100 "
        "all-reduce profile; docs/gpu-model.md)",
    )
    allreduce_bus_efficiency: float = Field(
        0.554, gt=0, le=1,
        description="achieved ring all-reduce bus bandwidth / NVLink bandwidth per direction (fit to the "
        "Vidur DGX-A100 all-reduce profile; docs/gpu-model.md)",
    )
    source: str = ""
