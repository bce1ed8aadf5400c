"""GPU-only serving (vLLM-style): weights, KV cache and every operator on the GPUs' HBM.

One iteration runs the dense layers over all its tokens, the prefill
attention of each chunk and the decode attention over every decoding
request's context, back to back on the GPUs (one resource, "gpu").
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from l3sim.serving.account import AccountBasis, StageTerms, account_terms
from l3sim.serving.plan import IterationCost, IterationPlan, Phase, SegmentCost
from l3sim.serving.state import RequestTable
from l3sim.serving.systems.accounting import (CountRates, decode_increment_counts, first_time_chunks, nominal_gpu_cost,
                                              plan_counts)
from l3sim.serving.systems.base import System
from l3sim.serving.systems.fc_memo import MemoizedFCTime
from l3sim.spec.model import ModelSpec
from l3sim.spec.run import RunSpec

# A steady segment's cost is taken as affine in the iteration index only if
# the decode-attention cost is linear in total context to this relative
# tolerance (checked at the segment's middle); otherwise the segment is halved
# until it is (two iterations always are: the engine then advances in short
# stretches across a kink of the roofline instead of one iteration at a time).
LINEARITY_RTOL = 1e-9


class GPUCost(Protocol):
    """The part of ``l3sim.hw.gpu.GPUCostModel`` this system uses (times for one replica, all layers)."""

    weight_bytes_per_gpu: float
    kv_capacity_bytes: float
    fits: bool
    does_not_fit_reason: str

    def fc_time_s(self, num_tokens: int, num_logits: int) -> float: ...

    def prefill_attention_time_s(self, chunk_tokens: np.ndarray, done_tokens: np.ndarray) -> np.ndarray: ...

    def decode_attention_time_s(self, total_context_tokens: int, num_requests: int | None = None) -> float: ...


class GPUOnlySystem(System):
    """The GPU-only baseline; see the module docstring."""

    name = "gpu-only"
    resources = ("gpu",)
    default_scheduler = "continuous"

    def __init__(
        self, cost: GPUCost, kv_bytes_per_token: int, model: ModelSpec | None = None, nominal: GPUCost | None = None
    ) -> None:
        self.cost = cost
        self.nominal = nominal  # the GPUs at nominal peak, for the run's account (serving/account.py); None: none
        self.model = model  # for the run's aggregates (FLOPs, KV bytes read); None: not counted
        self._rates = None if model is None else CountRates.of(model)
        self.kv_bytes_per_token = kv_bytes_per_token
        self.kv_capacity_bytes = float(cost.kv_capacity_bytes)
        self.fits = bool(cost.fits)
        self.does_not_fit_reason = cost.does_not_fit_reason or ""
        self._fc = MemoizedFCTime(cost)
        self._nominal_fc = MemoizedFCTime(nominal) if nominal is not None else None

    def without_account(self) -> None:
        """No nominal-peak terms (``System.without_account``)."""
        self.nominal = None
        self._nominal_fc = None

    def account_basis(self) -> AccountBasis | None:
        """The figures of the run's account: the GPU is the attention device (one slot, no fixed cost)."""
        if self.nominal is None:
            return None
        nominal = self.nominal
        return AccountBasis(
            slots=1,
            fixed_s=0.0,
            per_token_s=0.0,  # unused: on the GPU the decode attention is one unit (attention_on_gpu)
            nominal_per_token_s=float(nominal.decode_attention_time_s(1.0)),
            attention_on_gpu=True,
            fc_s=lambda n: self._fc(n, n),
            nominal_fc_s=lambda tokens: np.asarray(nominal.fc_time_s(tokens, tokens), dtype=float),
        )

    def _account(
        self, plan: IterationPlan, table: RequestTable, gpu_s: float, completing: int, attention: tuple[float, float],
        prefill_attention_s: float,
    ) -> tuple[float, ...]:
        """The plan's terms of the run's account: the GPU stage, the decode attention as the attention stage.

        ``prefill_attention_s``: the plan's prefill attention seconds, reused when no chunk recomputes tokens."""
        if self.nominal is None:
            return ()
        n = plan.decode_ids.size
        no_recompute, prefill_nominal = gpu_s, 0.0
        if plan.prefill_ids.size:
            first, after, recomputed = first_time_chunks(plan, table)
            tokens, logits = int(first.sum()) + n, completing + n
            if recomputed.any():
                prefill_attention_s = float(np.sum(self.cost.prefill_attention_time_s(first, after)))
            no_recompute = prefill_attention_s + self._fc(tokens, logits)
            prefill_nominal = (
                float(np.sum(self.nominal.prefill_attention_time_s(first, after)))
                + self._nominal_fc(tokens, logits) - self._nominal_fc(n, n)
            )
        context = float(table.kv_tokens[plan.decode_ids].sum() + n)
        stage = StageTerms(gpu_s, no_recompute, prefill_nominal, float(n), context, *attention, 0.0, 0.0)
        return account_terms(False, stage, StageTerms(*[0.0] * len(StageTerms._fields)))

    def iteration_cost(self, plan: IterationPlan, table: RequestTable) -> IterationCost:
        chunks, done = plan.prefill_chunk_tokens, plan.prefill_done_tokens
        completing = int(np.count_nonzero(done + chunks >= table.prefill_target[plan.prefill_ids]))
        duration = self._fc(plan.num_tokens, plan.decode_ids.size + completing)
        prefill_attention = 0.0
        if chunks.size:
            prefill_attention = float(np.sum(self.cost.prefill_attention_time_s(chunks, done)))
            duration += prefill_attention
        gpu_stage = duration
        context = 0
        if plan.decode_ids.size:
            # Each decode attends over its stored tokens plus the one it appends.
            context = int(table.kv_tokens[plan.decode_ids].sum()) + plan.decode_ids.size
            duration += float(self.cost.decode_attention_time_s(context, plan.decode_ids.size))
        counts = self._counts(int(chunks.sum()), plan.decode_ids.size, plan.decode_ids.size + completing, context)
        account = self._account(plan, table, gpu_stage, completing, (duration - gpu_stage, 0.0), prefill_attention)
        return IterationCost(
            duration, {"gpu": duration}, counts, (Phase("gpu", 0.0, duration, "iteration"),), account=account
        )

    def _counts(self, prefill_tokens: int, decodes: int, logits: int, context: int) -> dict[str, float]:
        return {} if self.model is None else plan_counts(self._rates, prefill_tokens, decodes, logits, context, 0.0)

    def segment_cost(self, plan: IterationPlan, table: RequestTable, max_iterations: int) -> SegmentCost:
        batch = plan.decode_ids.size
        context0 = int(table.kv_tokens[plan.decode_ids].sum()) + batch
        attention0 = float(self.cost.decode_attention_time_s(context0, batch))
        first = self._fc(batch, batch) + attention0
        increment, valid = 0.0, max_iterations
        while valid > 1:
            span = valid - 1
            attention_end = float(self.cost.decode_attention_time_s(context0 + batch * span, batch))
            increment = (attention_end - attention0) / span
            mid = span // 2
            attention_mid = float(self.cost.decode_attention_time_s(context0 + batch * mid, batch))
            if abs(attention_mid - (attention0 + increment * mid)) <= LINEARITY_RTOL * attention_end:
                break
            valid = (valid + 1) // 2
        if valid == 1:
            increment = 0.0
        counts = self._counts(0, batch, batch, context0)
        grow = {} if self.model is None else decode_increment_counts(self._rates, batch)
        account = self._account(plan, table, self._fc(batch, batch), 0, (attention0, increment), 0.0)
        return SegmentCost(
            IterationCost(
                first, {"gpu": first}, counts, (Phase("gpu", 0.0, first, "decode iteration"),), account=account
            ),
            IterationCost(increment, {"gpu": increment}, grow),
            valid,
        )


def build(spec: RunSpec, name: str = GPUOnlySystem.name,
          default_scheduler: str = GPUOnlySystem.default_scheduler) -> GPUOnlySystem:
    """The GPU-only system of ``spec``: the roofline (or profiled) GPU cost model of one replica, labelled with its
    registry entry's ``name`` and ``default_scheduler``."""
    from l3sim.hw.gpu import GPUCostModel  # lazy: l3sim.hw.gpu loads pandas

    system = GPUOnlySystem(GPUCostModel(spec), spec.model.kv_bytes_per_token, spec.model, nominal_gpu_cost(spec))
    system.name, system.default_scheduler = name, default_scheduler
    return system
