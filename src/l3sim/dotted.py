"""Nested tables as ``dotted.key -> value``: the one flattener behind settings, sweep grids, stored metrics and
table output, which differ only in what counts as a nested table and how a leaf is written."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


def _is_table(value: Any) -> bool:
    return isinstance(value, Mapping)


def _as_is(name: str, value: Any) -> Any:
    return value


def flatten_dotted(table: Mapping[str, Any], leaf: Callable[[str, Any], Any] = _as_is,
                   nested: Callable[[Any], bool] = _is_table, prefix: str = "") -> dict[str, Any]:
    """Every leaf of ``table`` under its dotted name: ``nested(value)`` says whether a value is a table to
    descend into (default: any mapping), ``leaf(name, value)`` gives the value stored for a leaf (default:
    the value itself); ``prefix`` is prepended to every name."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if nested(value):
            flat.update(flatten_dotted(value, leaf, nested, f"{name}."))
        else:
            flat[name] = leaf(name, value)
    return flat
