"""Per-iteration totals every system reports in ``IterationCost.counts`` (the run's ``aggregates``).

``fc_flops``: dense-layer FLOPs (QKV, output projection, FFN over every token, LM head over the rows
that need logits); ``decode_kv_bytes_read``: KV bytes decode attention reads (every decoding request's
whole context, once per step); ``prefill_tokens`` / ``decode_tokens``: tokens through the model;
``pcie_bytes``: bytes over the GPU <-> host links.
"""

from __future__ import annotations

from l3sim.spec.model import ModelSpec


def plan_counts(
    model: ModelSpec, prefill_tokens: int, num_decodes: int, num_logits: int, context_tokens: float, pcie_bytes: float
) -> dict[str, float]:
    """The totals of one iteration; ``context_tokens`` is the decodes' summed attention context."""
    per_token = model.num_layers * (
        model.qkv_flops_per_token + model.out_proj_flops_per_token + model.ffn_flops_per_token
    )
    return {
        "prefill_tokens": float(prefill_tokens),
        "decode_tokens": float(num_decodes),
        "fc_flops": float(per_token * (prefill_tokens + num_decodes) + model.lm_head_flops_per_token * num_logits),
        "decode_kv_bytes_read": float(context_tokens * model.kv_bytes_per_token),
        "pcie_bytes": float(pcie_bytes),
    }


def decode_increment_counts(model: ModelSpec, num_decodes: int) -> dict[str, float]:
    """How the totals of a steady decode iteration grow per iteration: every context grows by one token."""
    return {"decode_kv_bytes_read": float(num_decodes * model.kv_bytes_per_token)}
