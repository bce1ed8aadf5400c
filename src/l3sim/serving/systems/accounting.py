"""Per-iteration totals every system reports in ``IterationCost.counts`` (the run's ``aggregates``).

``fc_flops``: dense-layer FLOPs (QKV, output projection, FFN over every token, LM head over the rows
that need logits); ``decode_kv_bytes_read``: KV bytes decode attention reads (every decoding request's
whole context, once per step); ``prefill_tokens`` / ``decode_tokens``: tokens through the model;
``pcie_bytes``: bytes over the GPU <-> host links.

Also what every system needs for the run's bound-and-loss account (``serving/account.py``): the GPU at
nominal peak and the prefill chunks less their recomputed tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from l3sim.serving.plan import IterationPlan
from l3sim.serving.state import RequestTable
from l3sim.spec.model import ModelSpec
from l3sim.spec.run import RunSpec


@dataclass(frozen=True)
class CountRates:
    """The model's per-token figures that ``plan_counts`` multiplies, read once: a ``ModelSpec`` recomputes
    its properties on every access, and a system asks for its counts at every plan."""

    dense_flops_per_token: int  # QKV, output projection and FFN, all layers
    lm_head_flops_per_token: int
    kv_bytes_per_token: int

    @classmethod
    def of(cls, model: ModelSpec) -> CountRates:
        per_layer = model.qkv_flops_per_token + model.out_proj_flops_per_token + model.ffn_flops_per_token
        return cls(model.num_layers * per_layer, model.lm_head_flops_per_token, model.kv_bytes_per_token)


def plan_counts(
    rates: CountRates, prefill_tokens: int, num_decodes: int, num_logits: int, context_tokens: float,
    pcie_bytes: float,
) -> dict[str, float]:
    """The totals of one iteration; ``context_tokens`` is the decodes' summed attention context."""
    return {
        "prefill_tokens": float(prefill_tokens),
        "decode_tokens": float(num_decodes),
        "fc_flops": float(rates.dense_flops_per_token * (prefill_tokens + num_decodes)
                          + rates.lm_head_flops_per_token * num_logits),
        "decode_kv_bytes_read": float(context_tokens * rates.kv_bytes_per_token),
        "pcie_bytes": float(pcie_bytes),
    }


def decode_increment_counts(rates: CountRates, num_decodes: int) -> dict[str, float]:
    """How the totals of a steady decode iteration grow per iteration: every context grows by one token."""
    return {"decode_kv_bytes_read": float(num_decodes * rates.kv_bytes_per_token)}


def nominal_gpu_cost(spec: RunSpec):
    """The GPU cost model of ``spec`` at nominal peak (the run's account of losses, ``serving/account.py``).

    The roofline with no utilisation caps (peak FLOP/s and HBM bandwidth), all-reduces at the full NVLink
    bandwidth with no per-call latency: whatever ``gpu.cost_source`` the run uses, this is its bound.
    """
    from l3sim.hw.gpu import GPUCostModel

    nominal = spec.gpu.model_copy(
        update={"cost_source": "roofline", "compute_util": 1.0, "mem_util": 1.0, "nvlink_util": 1.0,
                "allreduce_latency_s": 0.0}
    )
    return GPUCostModel(spec.model_copy(update={"gpu": nominal}))


def first_time_chunks(plan: IterationPlan, table: RequestTable) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The plan's prefill chunks less their recomputed tokens: (chunk tokens, done tokens, recomputed).

    A chunk's tokens below ``table.computed_tokens`` (what a pre-emption dropped) are recomputed; the
    rest starts after them. Elementwise over ``plan.prefill_ids``.
    """
    chunks, done = plan.prefill_chunk_tokens, plan.prefill_done_tokens
    recomputed = np.clip(table.computed_tokens[plan.prefill_ids] - done, 0, chunks)
    return chunks - recomputed, done + recomputed, recomputed
