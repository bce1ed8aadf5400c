"""Printing results: one JSON object with ``--json``, a rich table otherwise."""

from __future__ import annotations

import json
import math
from typing import Any, Iterable, Mapping

from rich.console import Console
from rich.table import Table


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return value.item()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def print_json(obj: Any) -> None:
    """Print ``obj`` as JSON on stdout (NaN and infinities become null)."""
    print(json.dumps(_jsonable(obj), indent=2))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={_fmt(v)}" for k, v in value.items())
    return str(value)


def print_mapping(title: str, obj: Mapping[str, Any]) -> None:
    """A two-column table of key and value."""
    table = Table(title=title, show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for key, value in obj.items():
        table.add_row(str(key), _fmt(value))
    Console().print(table)


def print_rows(title: str, rows: Iterable[Mapping[str, Any]], columns: list[str] | None = None) -> None:
    """A table with one row per mapping."""
    rows = list(rows)
    columns = columns or (list(rows[0].keys()) if rows else [])
    table = Table(title=title)
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*(_fmt(row.get(col, "")) for col in columns))
    Console().print(table)
