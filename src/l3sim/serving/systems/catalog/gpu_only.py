"""gpu-only: weights, KV cache and every operator on the GPUs' HBM (vLLM-style)."""

from __future__ import annotations

from l3sim.hw.energy import GPU_HBM as GPU_HBM_ENERGY
from l3sim.hw.roofline import GPU_HBM
from l3sim.serving.systems import gpu_only
from l3sim.serving.systems.registry import SystemEntry
from l3sim.spec.run import RunSpec


def build(spec: RunSpec, entry: SystemEntry) -> gpu_only.GPUOnlySystem:
    """The GPU-only system of ``spec`` (``serving/systems/gpu_only.py``)."""
    return gpu_only.build(spec, entry.name, entry.default_scheduler)


ENTRIES = (
    SystemEntry("gpu-only", build, "continuous", "GPU-only baseline: KV cache and attention in the GPUs' HBM",
                energy=GPU_HBM_ENERGY, roofline=GPU_HBM, order=10),
)
