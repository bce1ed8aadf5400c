"""Split trace text into raw columns, remembering the file line of every row.

CSV: the first line is the header (comma-separated names, surrounding spaces
ignored); every other non-blank line is one row with exactly as many fields.
No quoting: none of the supported formats needs it, and without it a row is a
line, so errors can name their line. JSONL: every non-blank line is one JSON
object. Blank lines carry no request and are skipped in both; columns other
than the ones a format reads are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from l3sim.errors import TraceFormatError
from l3sim.inputs import decode_utf8, parse_json


@dataclass(frozen=True, slots=True)
class RawColumns:
    """The cells of the columns a format reads, as found in the file, with each row's 1-based line number.

    ``values`` holds strings for CSV (``is_text``) and decoded JSON values for JSONL.
    """

    source: str
    lines: np.ndarray
    values: dict[str, np.ndarray]
    is_text: bool


def decode(data: bytes, source: str) -> str:
    """UTF-8 text of a trace (a leading byte-order mark is dropped); bad bytes name their line."""
    return decode_utf8(data, source, TraceFormatError)


def _split_lines(text: str) -> list[str]:
    return text.replace("\r\n", "\n").split("\n")


def _no_rows(source: str) -> TraceFormatError:
    return TraceFormatError(f"{source}: no requests (the trace has no data rows)")


def _object_array(items: list) -> np.ndarray:
    array = np.empty(len(items), dtype=object)
    array[:] = items
    return array


def read_csv_columns(text: str, source: str, required: tuple[str, ...], optional: tuple[str, ...]) -> RawColumns:
    """Raw cells of the ``required`` columns and of those ``optional`` ones the header names."""
    lines = _split_lines(text)
    header = [name.strip() for name in lines[0].split(",")]
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        raise TraceFormatError(f"{source}:1: header: column(s) {', '.join(duplicated)} appear more than once")
    missing = [name for name in required if name not in header]
    if missing:
        raise TraceFormatError(
            f"{source}:1: header: expected columns {', '.join(required)}, got {', '.join(header)} "
            f"(missing {', '.join(missing)})"
        )
    numbers = [number for number, line in enumerate(lines[1:], start=2) if line.strip()]
    if not numbers:
        raise _no_rows(source)
    rows = [lines[number - 1].split(",") for number in numbers]
    widths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    bad = np.flatnonzero(widths != len(header))
    if bad.size:
        first = bad[0]
        raise TraceFormatError(
            f"{source}:{numbers[first]}: expected {len(header)} comma-separated fields (as in the header), "
            f"got {widths[first]}"
        )
    cells = list(zip(*rows))
    wanted = list(required) + [name for name in optional if name in header]
    values = {name: _object_array(list(cells[header.index(name)])) for name in wanted}
    return RawColumns(source, np.asarray(numbers, dtype=np.int64), values, is_text=True)


_MISSING = object()


def parse_json_line(line: str, number: int, source: str) -> dict:
    """One JSONL record (a JSON object); any malformed line is a TraceFormatError naming ``source:number``."""
    record = parse_json(line, f"{source}:{number}", TraceFormatError)
    if not isinstance(record, dict):
        raise TraceFormatError(f"{source}:{number}: expected a JSON object, got {type(record).__name__}")
    return record


def read_jsonl_columns(text: str, source: str, required: tuple[str, ...], optional: tuple[str, ...]) -> RawColumns:
    """Raw values of the ``required`` keys and of those ``optional`` keys the first record has."""
    numbers: list[int] = []
    records: list[dict] = []
    for number, line in enumerate(_split_lines(text), start=1):
        if line.strip():
            numbers.append(number)
            records.append(parse_json_line(line, number, source))
    if not records:
        raise _no_rows(source)
    wanted = list(required) + [name for name in optional if name in records[0]]
    values = {}
    for name in wanted:
        column = [record.get(name, _MISSING) for record in records]
        if _MISSING in column:
            number = numbers[column.index(_MISSING)]
            raise TraceFormatError(f"{source}:{number}: field {name!r}: missing")
        values[name] = _object_array(column)
    return RawColumns(source, np.asarray(numbers, dtype=np.int64), values, is_text=False)

