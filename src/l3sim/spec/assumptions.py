"""Assumption profiles: named sets of RunSpec settings, each line with its source.

A profile is a TOML file of dotted RunSpec settings (``gpu.mem_util = 0.85``),
shipped in ``l3sim/presets/assumptions/`` (``realistic``: today's defaults;
``paper``: what the L3 paper states or clearly implies) or given by path.
:func:`l3sim.spec.run.build_run_spec` applies the profile a run names in its
``assumptions`` field after the run's own fields and presets are resolved and
before any ``--set`` override, so the order is (later wins)::

    RunSpec defaults and presets < profile < --set overrides

with one exception: a profile key that is a whole top-level field the run
names itself (``requests``, ``arrival``, ``seed``: ``--requests``,
``--quick``'s 100 requests, a sweep's ``requests``) yields to the run's value,
so that a profile describes a platform and a method without fixing the size of
every run. Dotted keys patch whatever presets the run names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from l3sim.dotted import flatten_dotted
from l3sim.errors import ConfigError
from l3sim.spec.presets import load_preset_data

#: The preset kind (folder ``l3sim/presets/assumptions``) that holds the shipped profiles.
KIND = "assumptions"


@dataclass(frozen=True)
class Profile:
    """A loaded profile: its label (name or path), where it came from, and its settings by dotted key."""

    name: str
    source: str
    settings: dict[str, Any]


def flatten_settings(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``dotted.key -> value`` for every leaf of a nested table (dotted TOML keys arrive nested)."""
    return flatten_dotted(table, nested=lambda value: isinstance(value, dict), prefix=prefix)


def load_profile(name: str) -> Profile:
    """The profile ``name`` (a shipped name or a TOML path); an unknown name lists the known ones."""
    data, source = load_preset_data(KIND, name)
    data.pop("name", None)  # the loader labels a shipped preset with its name; not a setting
    settings = flatten_settings(data)
    if not settings:
        raise ConfigError(f"{source}: the assumption profile has no settings")
    if any(key.split(".")[0] == "assumptions" for key in settings):
        raise ConfigError(f"{source}: a profile cannot set 'assumptions' (profiles do not nest)")
    return Profile(name, source, settings)


def apply_profile(data: dict[str, Any], profile: Profile, given: set[str]) -> dict[str, Any]:
    """A copy of the resolved RunSpec dict ``data`` with the profile's settings in place.

    ``given`` holds the top-level fields the run set itself; a profile key equal to one of them is
    skipped (module docstring). Every other key must name an existing setting: the resolved dict
    holds every field, so a missing key is not a RunSpec setting, reported with the file and key.
    """
    import copy

    result = copy.deepcopy(data)
    for key, value in profile.settings.items():
        path = key.split(".")
        if len(path) == 1 and key in given:
            continue
        node = result
        for part in path[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
            if not isinstance(node, dict):
                break
        if not isinstance(node, dict) or path[-1] not in node:
            raise ConfigError(f"{profile.source}: {key!r} is not a RunSpec setting")
        node[path[-1]] = value
    return result
