"""Systems, by name. Each composes devices into one replica's capacity and cost model.

Register a new system in :data:`SYSTEMS` as ``name -> build(spec) -> System``;
``--system NAME`` is a lookup in it.
"""

from __future__ import annotations

from typing import Callable

from l3sim.errors import ConfigError
from l3sim.serving.systems import baselines, gpu_only
from l3sim.serving.systems.base import System
from l3sim.spec.run import RunSpec

SYSTEMS: dict[str, Callable[[RunSpec], System]] = {
    "gpu-only": gpu_only.build,
    "hbm-pim": baselines.build_hbm_pim,
    "hbm-pim-single": baselines.build_hbm_pim_single,
    "hbm-pim-ext": baselines.build_hbm_pim_ext,
    "cpu-offload": baselines.build_cpu_offload,
    "r-pim": baselines.build_r_pim,
    "l3": baselines.build_l3,
}


def system_names() -> list[str]:
    """Names accepted by ``--system`` (and listed by ``l3sim presets systems``)."""
    return sorted(SYSTEMS)


def scheduler_names() -> list[str]:
    """Names accepted by ``--scheduler`` (re-exported here beside the systems they pair with)."""
    from l3sim.serving.schedulers import scheduler_names as names

    return names()


def build_system(spec: RunSpec) -> System:
    """The system named by ``spec.system``; an unknown name lists the known ones."""
    try:
        factory = SYSTEMS[spec.system]
    except KeyError:
        raise ConfigError(f"unknown system {spec.system!r}; known: {', '.join(system_names())}") from None
    return factory(spec)


__all__ = ["SYSTEMS", "System", "build_system", "scheduler_names", "system_names"]
