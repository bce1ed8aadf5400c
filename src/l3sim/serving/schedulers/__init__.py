"""Schedulers, by name: each turns the replica state into the next iteration's plan.

A scheduler is a class built from the :class:`~l3sim.spec.run.ServingSpec`
and the System it serves (``factory(serving, system)``; system may be None) with one method, ``plan(state) -> IterationPlan``. Register a new one in
:data:`SCHEDULERS`; ``--scheduler NAME`` is a lookup in it.
"""

from __future__ import annotations

from typing import Callable, Protocol

from l3sim.errors import ConfigError
from l3sim.serving.plan import IterationPlan
from l3sim.serving.schedulers.capacity_first import CapacityFirstScheduler
from l3sim.serving.schedulers.continuous import ContinuousBatching
from l3sim.serving.schedulers.l3 import L3Scheduler
from l3sim.serving.schedulers.subbatch import SubBatchScheduler
from l3sim.serving.state import ReplicaState
from l3sim.spec.run import ServingSpec


class Scheduler(Protocol):
    """Chooses the next iteration's batch; may pre-empt and admit (the engine applies both).

    A scheduler that learns from what its plans cost may also define ``observe(plan, cost)``: the
    engine calls it with each plan and the system's ``IterationCost`` of its first iteration.
    """

    name: str

    def plan(self, state: ReplicaState) -> IterationPlan: ...


SCHEDULERS: dict[str, Callable[..., Scheduler]] = {
    ContinuousBatching.name: ContinuousBatching,
    SubBatchScheduler.name: SubBatchScheduler,
    CapacityFirstScheduler.name: CapacityFirstScheduler,
    L3Scheduler.name: L3Scheduler,
}


def scheduler_names() -> list[str]:
    """Names accepted by ``--scheduler``."""
    return sorted(SCHEDULERS)


def build_scheduler(name: str, serving: ServingSpec, system=None) -> Scheduler:
    """The scheduler called ``name`` for ``system``; an unknown name lists the known ones."""
    try:
        factory = SCHEDULERS[name]
    except KeyError:
        raise ConfigError(f"unknown scheduler {name!r}; known: {', '.join(scheduler_names())}") from None
    return factory(serving, system)
