"""The interface every scheduler offers the engine: ``plan`` each iteration, ``observe`` what it cost."""

from __future__ import annotations

from typing import Protocol

from l3sim.serving.plan import IterationCost, IterationPlan
from l3sim.serving.state import ReplicaState


class Scheduler(Protocol):
    """Chooses the next iteration's batch; may pre-empt and admit (the engine applies both).

    A scheduler is built as ``factory(serving, system)`` (``ServingSpec``, the System it serves, which may
    be None). Concrete schedulers subclass this protocol explicitly to inherit the no-op ``observe``.
    ``settings_field``: the section of ``RunSpec.schedulers`` (``l3sim.spec.schedulers``) the scheduler
    reads, passed to it as ``config=`` by ``build_scheduler``; None: it has no settings of its own.
    """

    name: str
    settings_field: str | None = None

    def plan(self, state: ReplicaState) -> IterationPlan: ...

    def observe(self, plan: IterationPlan, cost: IterationCost) -> None:
        """Feedback hook: the engine calls it after costing each plan, with the system's ``IterationCost`` of
        the plan's first iteration (as a serving system times its iterations; the L3 scheduler refits its
        predictors on it). Default: nothing."""
        return None
