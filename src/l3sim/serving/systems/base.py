"""The interface every system (GPU-only, HBM-PIM, L3, ...) offers the engine."""

from __future__ import annotations

from typing import Protocol

from l3sim.serving.plan import IterationCost, IterationPlan, SegmentCost
from l3sim.serving.state import RequestTable


class System(Protocol):
    """Where weights, KV cache and each operator live, with capacity and cost, for ONE model replica.

    ``kv_capacity_bytes`` is the replica's KV cache; ``fits`` is False (with a
    reason) when the weights do not fit, which the run reports as OOM.
    ``iteration_cost`` times one plan; ``segment_cost`` times a steady
    decode-only plan repeated with every context growing by one token per
    iteration, as an affine function of the iteration index.
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
