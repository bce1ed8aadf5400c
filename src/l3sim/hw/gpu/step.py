"""One iteration of GPU work split by operator: what ``l3sim gpu step`` prints.

decode: ``batch`` requests each append one token after ``context`` cached
tokens: FC over ``batch`` tokens with ``batch`` logits, decode attention over
batch x (context + 1) tokens (the appended token attends too), with the
request count (the calibrated source's split-KV occupancy).
prefill: ``batch`` prompts of ``context`` tokens each in one iteration: FC over
batch x context tokens with ``batch`` logits, prefill attention of each prompt.
"""

from __future__ import annotations

from typing import Literal

from l3sim.hw.gpu.cost_model import GPUCostModel

FC_KEYS = ("qkv_proj", "out_proj", "ffn", "lm_head")


def step_breakdown(cost: GPUCostModel, batch: int, context: int, phase: Literal["decode", "prefill"]) -> dict:
    """{total_s, fc_s, attention_s, allreduce_s, other_s, per_op_s}; the four parts add up to total_s."""
    if batch < 1 or context < (0 if phase == "decode" else 1):
        raise ValueError(f"batch must be >= 1 and context >= {0 if phase == 'decode' else 1}")
    if phase == "decode":
        parts = cost.fc_breakdown_s(batch, batch)
        attention = cost.decode_attention_time_s(batch * (context + 1), batch)
    else:
        parts = cost.fc_breakdown_s(batch * context, batch)
        attention = batch * cost.prefill_attention_time_s(context, 0)
    per_op = {**{key: float(value) for key, value in parts.items()}, "attention": float(attention)}
    fc = sum(per_op[key] for key in FC_KEYS)
    result = {"fc_s": fc, "attention_s": per_op["attention"], "allreduce_s": per_op["all_reduce"],
              "other_s": per_op["other"]}
    return {"total_s": sum(result.values()), **result, "per_op_s": per_op}
