"""The system registry: one :class:`SystemEntry` per system, everything that says what the system is.

An entry holds the system's name, how to build it from a RunSpec, its default scheduler, the energy model of
its attention device, the device the roofline draws for it, a one-line description and its place in
listings. Every module of ``l3sim.serving.systems.catalog`` declares its systems in a module-level
``ENTRIES`` tuple and is loaded when this package is imported, so adding a system is one new module there;
code outside the package (a plugin, a test) calls :func:`register_system` (docs/extending.md).
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Callable, Sequence

from l3sim.errors import ConfigError
from l3sim.hw.energy import AttentionEnergyModel
from l3sim.hw.roofline import RooflineDevice
from l3sim.serving.systems import catalog
from l3sim.serving.systems.base import System
from l3sim.spec.run import RunSpec


@dataclass(frozen=True)
class SystemEntry:
    """One system: ``build(spec, entry) -> System`` makes one model replica of it.

    ``build`` receives its entry so that the System it returns carries the entry's ``name`` and
    ``default_scheduler`` (one place for both). ``energy``: None for a system without an energy model
    (``l3sim.experiments.energy_accounting`` then says so); ``roofline``: None for a system the roofline
    does not draw. ``order``: position in listings and plots (the built-in systems use 10, 20, ...).
    """

    name: str
    build: Callable[[RunSpec, "SystemEntry"], System]
    default_scheduler: str
    description: str
    energy: AttentionEnergyModel | None = None
    roofline: RooflineDevice | None = None
    order: int = 1000


#: name -> entry, every registered system. Read it through the functions below.
SYSTEMS: dict[str, SystemEntry] = {}


def register_system(entry: SystemEntry) -> SystemEntry:
    """Add ``entry`` to the registry; a second system of the same name is an error."""
    if not isinstance(entry, SystemEntry):
        raise ConfigError(f"register_system: expected a SystemEntry, got {type(entry).__name__}")
    if entry.name in SYSTEMS:
        raise ConfigError(f"system {entry.name!r} is already registered")
    SYSTEMS[entry.name] = entry
    return entry


def _load_catalog() -> None:
    """Register the ``ENTRIES`` of every module of ``l3sim.serving.systems.catalog``."""
    for info in sorted(pkgutil.iter_modules(catalog.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{catalog.__name__}.{info.name}")
        entries = getattr(module, "ENTRIES", None)
        if entries is None:
            raise ConfigError(f"system module {module.__name__} declares no ENTRIES (a tuple of SystemEntry)")
        for entry in entries:
            register_system(entry)


def system_entries() -> list[SystemEntry]:
    """Every registered system, in listing order (``order``, then name)."""
    return sorted(SYSTEMS.values(), key=lambda e: (e.order, e.name))


def system_names() -> list[str]:
    """Names accepted by ``--system`` (and listed by ``l3sim presets systems``), sorted."""
    return sorted(SYSTEMS)


def system_entry(name: str) -> SystemEntry:
    """The entry of system ``name``; an unknown name lists the known ones."""
    try:
        return SYSTEMS[name]
    except KeyError:
        raise ConfigError(f"unknown system {name!r}; known: {', '.join(system_names())}") from None


def build_system(spec: RunSpec) -> System:
    """One replica of the system named by ``spec.system``."""
    entry = system_entry(spec.system)
    return entry.build(spec, entry)


def roofline_devices(names: Sequence[str] | None = None) -> list[RooflineDevice]:
    """The attention devices of the registered systems, each once, in listing order; ``names`` picks some."""
    known: dict[str, RooflineDevice] = {}
    for entry in system_entries():
        if entry.roofline is not None:
            known.setdefault(entry.roofline.name, entry.roofline)
    if names is None:
        return list(known.values())
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(f"unknown attention device(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return [known[n] for n in names]
