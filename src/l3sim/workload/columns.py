"""Turn raw trace cells into checked numeric arrays; the first bad cell names its line and field.

Token counts must be whole numbers >= 1 below 2**53 (exact in float64), in any
numeric spelling ("12", "12.0", "1.2e1"). An output of 0 tokens is an error,
not a dropped row: every served request yields at least the token its prefill
produces, so a 0 marks a request the traced system did not serve, which a
simulation of serving cannot represent. Times must be finite.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from l3sim.errors import TraceFormatError
from l3sim.spec.numbers import MAX_REQUEST_TOKENS
from l3sim.workload.rows import RawColumns

if TYPE_CHECKING:
    import pandas as pd

MAX_EXACT_INTEGER = 2**53


def _text_number(cell: object) -> float:
    try:
        return float(cell)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return math.nan


def _json_number(value: object) -> float:
    """A JSON number as float; booleans, strings, null, arrays and objects are not numbers here."""
    if type(value) not in (int, float):
        return math.nan
    try:
        return float(value)  # type: ignore[arg-type]
    except OverflowError:
        return math.nan


def as_numbers(raw: RawColumns, field: str) -> np.ndarray:
    """float64 values of one column of text cells (CSV) or JSON values; NaN where a cell is not a number."""
    cells = raw.values[field]
    if raw.is_text:
        try:
            return cells.astype(np.float64)  # float() on every cell, in C; fails on the first non-number
        except (ValueError, OverflowError):
            convert = _text_number
    else:
        convert = _json_number  # element-wise: a cast would read JSON true as 1
    return np.fromiter((convert(cell) for cell in cells), dtype=np.float64, count=len(cells))


def _raise_first(bad: np.ndarray, raw: RawColumns, field: str, expected: str) -> None:
    if bad.any():
        index = int(np.argmax(bad))
        got = raw.values[field][index]
        raise TraceFormatError(f"{raw.source}:{raw.lines[index]}: field {field!r}: expected {expected}, got {got!r}")


def integers(raw: RawColumns, field: str, minimum: int | None, expected: str) -> np.ndarray:
    """int64 column of whole numbers (>= ``minimum`` when given), else TraceFormatError at the first bad row."""
    values = as_numbers(raw, field)
    with np.errstate(invalid="ignore"):
        bad = ~(np.isfinite(values) & (np.abs(values) < MAX_EXACT_INTEGER) & (values == np.floor(values)))
        if minimum is not None:
            bad |= ~(values >= minimum)
    _raise_first(bad, raw, field, expected)
    return values.astype(np.int64)


def token_counts(raw: RawColumns, field: str) -> np.ndarray:
    """Token counts: whole numbers from 1 to MAX_REQUEST_TOKENS."""
    values = integers(raw, field, 1, "a whole number of tokens >= 1")
    _raise_first(values > MAX_REQUEST_TOKENS, raw, field, f"at most {MAX_REQUEST_TOKENS:,} tokens")
    return values


def seconds(raw: RawColumns, field: str, units_per_second: float) -> np.ndarray:
    """Times in seconds from a numeric column in units of 1/``units_per_second`` s (division keeps 1500 ms exact)."""
    values = as_numbers(raw, field)
    _raise_first(~np.isfinite(values), raw, field, "a finite number")
    return values / units_per_second


def _parse_datetimes(cells: np.ndarray) -> np.ndarray:
    """int64 ns since the epoch (UTC; zone-less times read as UTC); NaT's int value where a cell is no date."""
    import pandas as pd  # only traces with date columns need it (a run of a synthetic workload never does)

    texts = pd.Series([cell if isinstance(cell, str) else "" for cell in cells], dtype=object)
    try:
        parsed = pd.to_datetime(texts, format="ISO8601", utc=True, errors="coerce")
    except (ValueError, OverflowError, TypeError):
        # one cell defeats the vectorised parser even with errors="coerce": parse one by one
        parsed = pd.Series([_one_datetime(text) for text in texts], dtype="datetime64[ns, UTC]")
    return parsed.to_numpy(dtype="datetime64[ns]").view(np.int64)


def _one_datetime(text: str) -> pd.Timestamp:
    import pandas as pd

    try:
        return pd.to_datetime(text, format="ISO8601", utc=True)
    except (ValueError, OverflowError, TypeError):
        return pd.NaT


def datetime_seconds(raw: RawColumns, field: str) -> np.ndarray:
    """Seconds after the earliest of an ISO-8601 date-time column (e.g. ``2023-11-16 18:15:46.6805900``)."""
    ns = _parse_datetimes(raw.values[field])
    _raise_first(ns == np.iinfo(np.int64).min, raw, field, "an ISO-8601 date-time such as 2023-11-16 18:15:46.68")
    # difference modulo 2**64 is exact: the span of representable dates is below 2**64 ns
    return (ns.view(np.uint64) - ns.min().astype(np.uint64)).astype(np.float64) / 1e9


def unique_ids(raw: RawColumns, field: str) -> np.ndarray:
    """The optional id column: distinct whole numbers; a repeated id names both lines."""
    ids = integers(raw, field, None, "a whole number")
    order = np.argsort(ids, kind="stable")
    repeats = np.flatnonzero(ids[order][1:] == ids[order][:-1])
    if repeats.size:
        pairs = [(order[r], order[r + 1]) for r in repeats]
        first, second = min(pairs, key=lambda pair: raw.lines[pair[1]])
        raise TraceFormatError(
            f"{raw.source}:{raw.lines[second]}: field {field!r}: expected a unique id, "
            f"got {ids[second]} again (first on line {raw.lines[first]})"
        )
    return ids
