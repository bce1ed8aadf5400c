"""Helpers that turn a study's results table into the columns it reports, and its caveats into notes."""

from __future__ import annotations

import math

import pandas as pd

from l3sim.experiments.store import ERROR_COL, STATUS_COL


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
