"""The serving simulator: engine, schedulers, systems and metrics.

``simulate(spec)`` runs one RunSpec end to end; ``serve(system, requests,
spec)`` serves given requests on a given system (tests use it with small
cost models). ``system_names()`` and ``scheduler_names()`` list the registries.
"""

from l3sim.serving.result import RunResult
from l3sim.serving.schedulers import scheduler_names
from l3sim.serving.simulate import serve, simulate
from l3sim.serving.systems import system_names

__all__ = ["RunResult", "scheduler_names", "serve", "simulate", "system_names"]
