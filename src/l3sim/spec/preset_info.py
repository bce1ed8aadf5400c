"""What ``l3sim presets show`` prints: a preset's resolved fields with their descriptions and its source.

Above both ``presets`` (loading) and ``assumptions`` (profiles, which load through ``presets``), so that
neither imports the other back.
"""

from __future__ import annotations

import importlib
import itertools
import typing
from pathlib import Path
from typing import Any

from l3sim import inputs
from l3sim.errors import ConfigError
from l3sim.spec.assumptions import load_profile
from l3sim.spec.base import Spec
from l3sim.spec.presets import PRESET_KINDS, _kind_dir, _looks_like_path, load_preset_data, preset_names

#: The spec class each preset kind validates against ("module:class"); assumptions are RunSpec settings.
PRESET_SPECS = {
    "models": "l3sim.spec.model:ModelSpec",
    "gpus": "l3sim.spec.platform:GPUSpec",
    "links": "l3sim.spec.platform:LinkSpec",
    "platforms": "l3sim.spec.platform:PlatformSpec",
    "workloads": "l3sim.spec.workload:WorkloadSpec",
    "dram": "l3sim.spec.dram:DRAMSpec",
    "memory": "l3sim.spec.dram:HostMemorySpec",
    "assumptions": "l3sim.spec.run:RunSpec",
}


def _spec_class(kind: str) -> type:
    module, name = PRESET_SPECS[kind].split(":")
    return getattr(importlib.import_module(module), name)


def _nested_spec(annotation: Any) -> type | None:
    """The Spec class a field holds (also inside ``X | None``), or None."""
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, Spec):
            return candidate
    return None


def field_description(cls: type, dotted: str) -> str:
    """The pydantic ``Field`` description of ``dotted`` (``gpu.compute_util``) in spec class ``cls``; "" if none."""
    *parents, last = dotted.split(".")
    for part in parents:
        field = cls.model_fields.get(part)
        nested = _nested_spec(field.annotation) if field is not None else None
        if nested is None:
            return ""
        cls = nested
    field = cls.model_fields.get(last)
    return (field.description or "") if field is not None else ""


def resolved_fields(spec: Any, prefix: str = "") -> list[tuple[str, Any, str]]:
    """Every field of a validated spec, nested specs expanded: (dotted name, value, description)."""
    rows: list[tuple[str, Any, str]] = []
    for name, field in type(spec).model_fields.items():
        value = getattr(spec, name)
        if isinstance(value, Spec):
            rows += resolved_fields(value, f"{prefix}{name}.")
        else:
            rows.append((f"{prefix}{name}", value.model_dump() if hasattr(value, "model_dump") else value,
                         field.description or ""))
    return rows


def preset_kinds_of(name: str) -> list[str]:
    """The kinds that ship a preset called ``name``."""
    return [kind for kind in PRESET_KINDS if name in preset_names(kind)]


def describe_preset(name: str, kind: str | None = None) -> dict[str, Any]:
    """A preset's resolved values with their descriptions and its source file, for ``l3sim presets show``.

    ``kind`` may be left out when exactly one kind has the name. A model, GPU, platform, ... is validated
    as its spec (defaults filled in, referenced presets resolved); an assumption profile lists its
    settings with the description of the RunSpec field each sets.
    """
    if kind is None:
        if _looks_like_path(name):
            raise ConfigError(f"{name}: a preset file needs --kind ({', '.join(PRESET_KINDS)})")
        kinds = preset_kinds_of(name)
        if not kinds:
            listing = "; ".join(f"{k}: {', '.join(preset_names(k))}" for k in PRESET_KINDS)
            raise ConfigError(f"unknown preset {name!r}; known: {listing}")
        if len(kinds) > 1:
            raise ConfigError(f"preset {name!r} is a {' and a '.join(kinds)} preset; say which with --kind")
        kind = kinds[0]
    data, source = load_preset_data(kind, name)
    path = Path(name).resolve() if _looks_like_path(name) else _kind_dir(kind).joinpath(f"{name}.toml")
    cls = _spec_class(kind)
    if kind == "assumptions":
        settings = load_profile(name).settings
        fields = [(key, value, field_description(cls, key)) for key, value in settings.items()]
    else:
        fields = resolved_fields(cls.parse(data, source))
    text = inputs.read_text(str(path), f"{kind} preset") if str(path).endswith(".toml") else ""
    leading = itertools.takewhile(lambda line: line.startswith("#"), text.splitlines())
    comment = " ".join(line.lstrip("#").strip() for line in leading)
    return {"name": data.get("name", name), "kind": kind, "source": str(path), "comment": comment,
            "fields": [{"field": f, "value": v, "description": d} for f, v, d in fields]}
