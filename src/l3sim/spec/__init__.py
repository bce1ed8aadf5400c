"""Declarative, validated descriptions of models, hardware, workloads and runs."""

from l3sim.spec.model import ModelSpec, ParallelSpec, model_from_hf_config
from l3sim.spec.platform import GPUSpec, LinkSpec, PlatformSpec
from l3sim.spec.presets import apply_overrides, load_preset_data, preset_names

__all__ = [
    "GPUSpec",
    "LinkSpec",
    "ModelSpec",
    "ParallelSpec",
    "PlatformSpec",
    "apply_overrides",
    "load_preset_data",
    "preset_names",
    "model_from_hf_config",
]
