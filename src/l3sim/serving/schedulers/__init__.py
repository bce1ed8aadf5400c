"""Schedulers, by name: each turns the replica state into the next iteration's plan.

A scheduler is a class built from the :class:`~l3sim.spec.run.ServingSpec`
and the System it serves (``factory(serving, system)``; system may be None)
that implements :class:`~l3sim.serving.schedulers.base.Scheduler`:
``plan(state) -> IterationPlan`` and, optionally, ``observe(plan, cost)``.
Register a new one in :data:`SCHEDULERS`; ``--scheduler NAME`` is a lookup in
it (docs/extending.md).
"""

from __future__ import annotations

from typing import Callable

from l3sim.errors import ConfigError
from l3sim.serving.schedulers.base import Scheduler
from l3sim.serving.schedulers.capacity_first import CapacityFirstScheduler
from l3sim.serving.schedulers.continuous import ContinuousBatching
from l3sim.serving.schedulers.l3 import L3Scheduler
from l3sim.serving.schedulers.subbatch import SubBatchScheduler
from l3sim.spec.run import ServingSpec
from l3sim.spec.schedulers import SchedulersSpec

SCHEDULERS: dict[str, Callable[..., Scheduler]] = {
    ContinuousBatching.name: ContinuousBatching,
    SubBatchScheduler.name: SubBatchScheduler,
    CapacityFirstScheduler.name: CapacityFirstScheduler,
    L3Scheduler.name: L3Scheduler,
}


def register_scheduler(factory: Callable[..., Scheduler]) -> Callable[..., Scheduler]:
    """Add a scheduler class (``factory(serving, system)``, its ``name`` the key) from code outside this
    package; a second scheduler of the same name is an error. Usable as a class decorator."""
    name = getattr(factory, "name", None)
    if not isinstance(name, str) or not name:
        raise ConfigError(f"register_scheduler: {factory!r} has no 'name' (the --scheduler key)")
    if name in SCHEDULERS:
        raise ConfigError(f"scheduler {name!r} is already registered")
    SCHEDULERS[name] = factory
    return factory


def scheduler_names() -> list[str]:
    """Names accepted by ``--scheduler``."""
    return sorted(SCHEDULERS)


def build_scheduler(name: str, serving: ServingSpec, system=None, settings: SchedulersSpec | None = None) -> Scheduler:
    """The scheduler called ``name`` for ``system``; an unknown name lists the known ones.

    A scheduler whose class names a ``settings_field`` gets that section of ``settings`` (``RunSpec.schedulers``;
    None: every section's defaults) as ``config``.
    """
    try:
        factory = SCHEDULERS[name]
    except KeyError:
        raise ConfigError(f"unknown scheduler {name!r}; known: {', '.join(scheduler_names())}") from None
    field = getattr(factory, "settings_field", None)
    if field is None:
        return factory(serving, system)
    return factory(serving, system, config=getattr(settings or SchedulersSpec(), field))
