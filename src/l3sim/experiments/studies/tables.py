"""Helpers that turn a study's results table into the columns it reports, and its caveats into notes."""

from __future__ import annotations

import math
from typing import Any, Iterable

import pandas as pd

from l3sim.experiments.store import ERROR_COL, STATUS_COL
from l3sim.markdown import pipe_table


def report_value(value: Any) -> Any:
    """A table value as the reports (report.md and report.html) show it: floats to 4 significant digits,
    NaN as a blank cell, anything else as it is."""
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4g}"
    return value


def markdown_table(table: pd.DataFrame, columns: Iterable[str] | None = None) -> str:
    """``table`` (its ``columns``, default all) as a pipe table (:func:`l3sim.markdown.pipe_table`, which
    escapes ``|``), floats to 4 significant digits, NaN as blank; no final newline, so that it sits in a
    list of report lines like any paragraph."""
    columns = list(columns) if columns is not None else list(table.columns)
    rows = ([report_value(value) for value in row] for row in table[columns].itertuples(index=False))
    return pipe_table(columns, rows).rstrip("\n")


def pick(table: pd.DataFrame, keys: list[str], metrics: list[str]) -> pd.DataFrame:
    """``keys``, status and ``metrics`` of ``table``; a metric no run produced is a NaN column, not an error."""
    picked = table[[*keys, STATUS_COL]].copy()
    for metric in metrics:
        picked[metric] = table[metric] if metric in table.columns else math.nan
    return picked


def ok_value(row: pd.Series, column: str) -> float:
    """``row[column]`` when the run finished, fitted in memory and gave a positive number; NaN otherwise."""
    if row.get(STATUS_COL) != "ok" or bool(row.get("oom", False)):
        return math.nan
    value = row.get(column, math.nan)
    try:
        value = float(value)
    except (TypeError, ValueError):
        return math.nan
    return value if value > 0 else math.nan


def status_notes(table: pd.DataFrame, label_columns: list[str]) -> list[str]:
    """One note per distinct reason points did not finish (unavailable system, error, crash), with a count."""
    notes = []
    bad = table[table[STATUS_COL] != "ok"]
    for (status, error), group in bad.groupby([STATUS_COL, ERROR_COL], sort=False):
        first = ", ".join(f"{c}={group.iloc[0][c]}" for c in label_columns)
        reason = str(error).splitlines()[0] if str(error) else "no message"
        notes.append(f"{len(group)} point(s) {status} (e.g. {first}): {reason}")
    if "oom" in table.columns:
        oom = table[(table[STATUS_COL] == "ok") & table["oom"].fillna(False).astype(bool)]
        for _, row in oom.iterrows():
            label = ", ".join(f"{c}={row[c]}" for c in label_columns)
            notes.append(f"out of memory: {label}: {row.get('oom_reason', '')}")
    return notes
