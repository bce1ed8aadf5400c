"""GPU-only serving (vLLM-style): weights, KV cache and every operator on the GPUs' HBM.

One iteration runs the dense layers over all its tokens, the prefill
attention of each chunk and the decode attention over every decoding
request's context, back to back on the GPUs (one resource, "gpu").
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from l3sim.serving.plan import IterationCost, IterationPlan, Phase, SegmentCost
from l3sim.serving.state import RequestTable
from l3sim.serving.systems.accounting import decode_increment_counts, plan_counts
from l3sim.spec.model import ModelSpec
from l3sim.spec.run import RunSpec

# A steady segment's cost is taken as affine in the iteration index only if
# the decode-attention cost is linear in total context to this relative
# tolerance (checked at the segment's middle); otherwise the engine steps.
LINEARITY_RTOL = 1e-9


class GPUCost(Protocol):
    """The part of ``l3sim.hw.gpu.GPUCostModel`` this system uses (times for one replica, all layers)."""

    weight_bytes_per_gpu: float
    kv_capacity_bytes: float
    fits: bool
    does_not_fit_reason: str

    def fc_time_s(self, num_tokens: int, num_logits: int) -> float: ...

    def prefill_attention_time_s(self, chunk_tokens: np.ndarray, done_tokens: np.ndarray) -> np.ndarray: ...

    def decode_attention_time_s(self, total_context_tokens: int) -> float: ...


class GPUOnlySystem:
    """The GPU-only baseline; see the module docstring."""

    name = "gpu-only"
    resources = ("gpu",)
    default_scheduler = "continuous"

    def __init__(self, cost: GPUCost, kv_bytes_per_token: int, model: ModelSpec | None = None) -> None:
        self.cost = cost
        self.model = model  # for the run's aggregates (FLOPs, KV bytes read); None: not counted
        self.kv_bytes_per_token = kv_bytes_per_token
        self.kv_capacity_bytes = float(cost.kv_capacity_bytes)
        self.fits = bool(cost.fits)
        self.does_not_fit_reason = cost.does_not_fit_reason or ""
        self._fc_memo: dict[tuple[int, int], float] = {}

    def _fc(self, num_tokens: int, num_logits: int) -> float:
        key = (num_tokens, num_logits)
        value = self._fc_memo.get(key)
        if value is None:
            value = self._fc_memo[key] = float(self.cost.fc_time_s(num_tokens, num_logits))
        return value

    def iteration_cost(self, plan: IterationPlan, table: RequestTable) -> IterationCost:
        chunks, done = plan.prefill_chunk_tokens, plan.prefill_done_tokens
        completing = int(np.count_nonzero(done + chunks >= table.prefill_target[plan.prefill_ids]))
        duration = self._fc(plan.num_tokens, plan.decode_ids.size + completing)
        if chunks.size:
            duration += float(np.sum(self.cost.prefill_attention_time_s(chunks, done)))
        context = 0
        if plan.decode_ids.size:
            # Each decode attends over its stored tokens plus the one it appends.
            context = int(table.kv_tokens[plan.decode_ids].sum()) + plan.decode_ids.size
            duration += float(self.cost.decode_attention_time_s(context))
        counts = self._counts(int(chunks.sum()), plan.decode_ids.size, plan.decode_ids.size + completing, context)
        return IterationCost(duration, {"gpu": duration}, counts, (Phase("gpu", 0.0, duration, "iteration"),))

    def _counts(self, prefill_tokens: int, decodes: int, logits: int, context: int) -> dict[str, float]:
        return {} if self.model is None else plan_counts(self.model, prefill_tokens, decodes, logits, context, 0.0)

    def segment_cost(self, plan: IterationPlan, table: RequestTable, max_iterations: int) -> SegmentCost:
        batch = plan.decode_ids.size
        context0 = int(table.kv_tokens[plan.decode_ids].sum()) + batch
        attention0 = float(self.cost.decode_attention_time_s(context0))
        first = self._fc(batch, batch) + attention0
        span = max_iterations - 1
        increment, valid = 0.0, max_iterations
        if span > 0:
            attention_end = float(self.cost.decode_attention_time_s(context0 + batch * span))
            increment = (attention_end - attention0) / span
            mid = span // 2
            attention_mid = float(self.cost.decode_attention_time_s(context0 + batch * mid))
            if abs(attention_mid - (attention0 + increment * mid)) > LINEARITY_RTOL * attention_end:
                increment, valid = 0.0, 1
        counts = self._counts(0, batch, batch, context0)
        grow = {} if self.model is None else decode_increment_counts(self.model, batch)
        return SegmentCost(
            IterationCost(first, {"gpu": first}, counts, (Phase("gpu", 0.0, first, "decode iteration"),)),
            IterationCost(increment, {"gpu": increment}, grow),
            valid,
        )


def build(spec: RunSpec) -> GPUOnlySystem:
    """The GPU-only system of ``spec``: the roofline (or profiled) GPU cost model of one replica."""
    from l3sim.hw.gpu import GPUCostModel

    return GPUOnlySystem(GPUCostModel(spec), spec.model.kv_bytes_per_token, spec.model)
