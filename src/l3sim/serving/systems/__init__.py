"""Systems, by name. Each composes devices into one replica's capacity and cost model.

Every system is one :class:`SystemEntry` (``registry``); the built-in ones are declared in the modules of
``l3sim.serving.systems.catalog``, one module per system or family, loaded here. ``--system NAME`` is
``build_system``, a lookup in the registry. docs/extending.md shows how to add one.
"""

from __future__ import annotations

from l3sim.serving.systems.base import System
from l3sim.serving.systems.registry import (
    SYSTEMS,
    SystemEntry,
    _load_catalog,
    build_system,
    register_system,
    roofline_devices,
    system_entries,
    system_entry,
    system_names,
)

_load_catalog()

__all__ = [
    "SYSTEMS",
    "System",
    "SystemEntry",
    "build_system",
    "register_system",
    "roofline_devices",
    "system_entries",
    "system_entry",
    "system_names",
]
