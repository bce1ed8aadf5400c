"""Presets: TOML files shipped in ``l3sim/presets/<kind>/<name>.toml``, or a user file by path.

A spec field that holds another spec (a platform's GPU, say) accepts a preset
name in place of a table; :func:`preset_ref` builds that validator. Overrides
(``--set dotted.key=value``) are applied to the fully resolved dict of a spec,
so they can reach any field, including one inside a referenced preset.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any, Callable

from l3sim import inputs
from l3sim.errors import ConfigError

PRESET_KINDS = ("models", "gpus", "links", "platforms", "workloads", "dram", "memory", "assumptions")
_SINGULAR = {kind: kind.removesuffix("s") for kind in PRESET_KINDS}


def _kind_dir(kind: str):
    if kind not in PRESET_KINDS:
        raise ConfigError(f"unknown preset kind {kind!r}; known kinds: {', '.join(PRESET_KINDS)}")
    return resources.files("l3sim").joinpath("presets", kind)


def preset_names(kind: str) -> list[str]:
    """Names of the presets of one kind, sorted."""
    folder = _kind_dir(kind)
    if not folder.is_dir():
        return []
    return sorted(p.name[: -len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml"))


def _looks_like_path(name: str) -> bool:
    return name.endswith((".toml", ".json")) or "/" in name or "\\" in name


def load_toml(path: Path) -> dict[str, Any]:
    """Read one TOML file; every failure (missing, unreadable, not UTF-8, bad syntax) names the file."""
    return inputs.load_toml(path)


def load_preset_data(kind: str, name: str) -> tuple[dict[str, Any], str]:
    """The raw table of preset ``name`` (or of the file at that path) and a source label.

    A model may also be a Hugging Face ``config.json`` (or a folder holding one), read without network.
    """
    if _looks_like_path(name):
        path = Path(name)
        if kind == "models" and (path.suffix == ".json" or path.is_dir()):
            from l3sim.spec.model import model_from_hf_config

            return model_from_hf_config(path).model_dump(), str(path)
        data = load_toml(path)
        data.setdefault("name", path.stem)  # as a shipped preset is named after its file: a copy loads as is
        return data, str(path)
    entry = _kind_dir(kind).joinpath(f"{name}.toml")
    if not entry.is_file():
        known = ", ".join(preset_names(kind)) or "(none)"
        raise ConfigError(f"unknown {_SINGULAR[kind]} preset {name!r}; known: {known}")
    with resources.as_file(entry) as path:
        data = load_toml(path)
    data.setdefault("name", name)
    return data, f"{_SINGULAR[kind]} preset {name!r} ({entry.name})"


def preset_ref(kind: str) -> Callable[[Any], Any]:
    """A pydantic before-validator: a string is replaced by that preset's table."""

    def resolve(value: Any) -> Any:
        if isinstance(value, str):
            data, _ = load_preset_data(kind, value)
            return data
        return value

    return resolve


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``dotted.key=value``; the value is read as a TOML value, else kept as a string."""
    if "=" not in text:
        raise ConfigError(f"override {text!r}: expected dotted.key=value")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override {text!r}: empty key or key part")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    except (RecursionError, ValueError) as exc:  # nesting beyond the parser, an integer beyond 4,300 digits
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise ConfigError(f"override {text!r}: {reason}") from None
    return key.split("."), inputs.check_nesting(value, f"override {text!r}")


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of the nested dict ``data`` with each ``dotted.key=value`` set.

    Every key but the last must already exist as a table, so a typo is reported
    instead of silently creating a new branch; the last key is checked by the
    spec's own validation (unknown fields are forbidden).
    """
    import copy

    result = copy.deepcopy(data)
    for text in overrides:
        path, value = parse_override(text)
        node = result
        for depth, part in enumerate(path[:-1]):
            child = node.get(part) if isinstance(node, dict) else None
            if not isinstance(child, dict):
                where = ".".join(path[: depth + 1])
                raise ConfigError(f"override {text!r}: {where!r} is not a table of the spec")
            node = child
        node[path[-1]] = value
    return result
