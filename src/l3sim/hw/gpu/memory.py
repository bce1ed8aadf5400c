"""HBM budget of one model replica: weight shard per GPU, activation reserve, and what is left for the KV cache.

Per GPU, tensor parallelism shards the weights over the tp GPUs except the
few replicated on every GPU (``ModelSpec.weight_bytes_per_gpu`` gives the
layout). With tp = 1 this is exactly ``ModelSpec.weight_bytes``.

KV capacity of a replica = tp x (HBM - reserve - weights per GPU), where
reserve = activation_reserve_fraction x HBM covers the CUDA context,
communication and GEMM workspaces and the activations of one iteration
(derivation in docs/gpu-model.md). A model whose weights and reserve do not
fit gets capacity 0 and ``fits = False`` with a reason, so the serving layer
can report "does not fit" (the paper's OOM) instead of crashing.
"""

from __future__ import annotations

from dataclasses import dataclass

from l3sim.spec.model import ModelSpec
from l3sim.spec.platform import GPUSpec

GB = 1e9


#: Weights per GPU of a TP group: model arithmetic, kept with the model (the sharding layout is documented there)
weight_bytes_per_gpu = ModelSpec.weight_bytes_per_gpu


@dataclass(frozen=True)
class MemoryPlan:
    """How one replica's HBM is split; all bytes."""

    weight_bytes_per_gpu: float
    reserve_bytes_per_gpu: float
    kv_capacity_bytes: float
    fits: bool
    does_not_fit_reason: str


def plan_memory(model: ModelSpec, gpu: GPUSpec, tp: int, reserve_fraction: float) -> MemoryPlan:
    """The HBM split of one replica of ``model`` on ``tp`` GPUs of type ``gpu``."""
    weights = weight_bytes_per_gpu(model, tp)
    reserve = reserve_fraction * gpu.hbm_capacity_bytes
    left = gpu.hbm_capacity_bytes - reserve - weights
    if left > 0:
        return MemoryPlan(weights, reserve, tp * left, True, "")
    reason = (
        f"{model.name} does not fit on tp={tp} x {gpu.name}: weights need {weights / GB:.1f} GB per GPU, "
        f"HBM {gpu.hbm_capacity_bytes / GB:.1f} GB minus the activation reserve {reserve / GB:.1f} GB "
        f"leaves {(gpu.hbm_capacity_bytes - reserve) / GB:.1f} GB"
    )
    return MemoryPlan(weights, reserve, 0.0, False, reason)
