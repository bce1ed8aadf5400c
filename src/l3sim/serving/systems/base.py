"""The interface every system (GPU-only, HBM-PIM, L3, ...) offers the engine and the schedulers.

``System`` is what the engine calls; ``SubBatchTimedSystem`` is what a scheduler that plans two
interleaved sub-batches from hypothetical stage times (the L3 scheduler) needs in addition. Concrete
systems subclass the protocols explicitly, so that they inherit the no-op defaults of the optional hooks.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from l3sim.hw.devices.base import AttentionDevice
from l3sim.serving.plan import IterationCost, IterationPlan, SegmentCost
from l3sim.serving.state import ReplicaState, RequestTable
from l3sim.spec.model import ModelSpec


class System(Protocol):
    """Where weights, KV cache and each operator live, with capacity and cost, for ONE model replica.

    ``kv_capacity_bytes`` is the replica's KV cache; ``fits`` is False (with a reason) when the weights do
    not fit, which the run reports as OOM. ``iteration_cost`` times one plan; ``segment_cost`` times a
    steady decode-only plan repeated with every context growing by one token per iteration, as an affine
    function of the iteration index. ``place`` is a hook the engine calls after every admission.
    """

    name: str
    resources: tuple[str, ...]
    default_scheduler: str
    kv_capacity_bytes: float
    kv_bytes_per_token: int
    fits: bool
    does_not_fit_reason: str

    def iteration_cost(self, plan: IterationPlan, table: RequestTable) -> IterationCost: ...

    def segment_cost(self, plan: IterationPlan, table: RequestTable, max_iterations: int) -> SegmentCost: ...

    def place(self, ids: np.ndarray, state: ReplicaState) -> None:
        """Put the newly admitted requests ``ids`` on the attention device's slots (``state.table.slot``).

        The engine calls it after applying each plan's admissions (``ids`` may be empty). Default: nothing,
        for a system with one pooled attention device; DIMM-PIM systems pick a rank group per request.
        """
        return None

    def without_account(self) -> None:
        """Stop timing the run's bound-and-loss account (``serving/account.py``): its nominal-peak terms cost
        about a tenth of a run, and a run whose result will not be explained does not need them. The
        timing itself is unchanged. Default: nothing, for a system that reports no account."""
        return None

    def without_timeline(self) -> None:
        """Stop building the timeline's intervals (``IterationCost.phases``): a run whose timeline no one will
        draw or write (a sweep point) need not pay for them; the timing itself is unchanged. Default: nothing,
        for a system whose intervals cost next to nothing (one per iteration)."""
        return None


@runtime_checkable
class SubBatchTimedSystem(System, Protocol):
    """A system that times hypothetical sub-batches, as the L3 scheduler's what-if questions need.

    ``gpu_stage_s``: prefill attention + dense layers of a sub-batch; ``attention_stage_s``: its decode
    attention with the decodes on given slots, communication included; ``pim_stage_s``: the same with
    the decodes placed as ``place`` would; ``device``: the attention device (its ``slots``); ``model``.
    """

    device: AttentionDevice
    model: ModelSpec

    def gpu_stage_s(self, chunk_tokens, done_tokens, num_decodes: int, num_logits: int | None = None) -> float: ...

    def attention_stage_s(self, context_tokens, slots, other_prefill_tokens: int = 0) -> float: ...

    def pim_stage_s(self, decode_context_tokens, other_prefill_tokens: int) -> float: ...
