"""Trace files: read one into checked arrays, and describe one as a WorkloadSpec."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from l3sim.inputs import read_bytes
from l3sim.spec.workload import WorkloadSpec
from l3sim.workload import columns
from l3sim.workload.formats import TraceFormat, get_format, infer_format
from l3sim.workload.rows import decode, read_csv_columns, read_jsonl_columns

UNITS_PER_SECOND = {"s": 1.0, "ms": 1000.0}


@dataclass(frozen=True, slots=True)
class TraceTable:
    """One trace as arrays, a row per request in file order.

    ``arrival_s`` is on the trace's own clock (date-time traces: seconds after
    their earliest timestamp); ``order_key`` orders requests that arrive
    together (the id column where the format has one, else the row index).
    """

    source: str
    arrival_s: np.ndarray
    prompt_tokens: np.ndarray
    output_tokens: np.ndarray
    order_key: np.ndarray

    def __len__(self) -> int:
        return len(self.prompt_tokens)


def parse_trace(data: bytes, fmt: TraceFormat | str, source: str) -> TraceTable:
    """Parse the bytes of a trace; any malformed input raises TraceFormatError naming ``source``, line and field."""
    fmt = get_format(fmt) if isinstance(fmt, str) else fmt
    text = decode(data, source)
    read = read_csv_columns if fmt.container == "csv" else read_jsonl_columns
    optional = (fmt.id_column,) if fmt.id_column else ()
    raw = read(text, source, fmt.required_columns, optional)
    if fmt.arrival_unit == "datetime":
        arrival_s = columns.datetime_seconds(raw, fmt.arrival_column)
    else:
        arrival_s = columns.seconds(raw, fmt.arrival_column, UNITS_PER_SECOND[fmt.arrival_unit])
    prompt = columns.token_counts(raw, fmt.prompt_column)
    output = columns.token_counts(raw, fmt.output_column)
    if fmt.id_column in raw.values:
        order_key = columns.unique_ids(raw, fmt.id_column)
    else:
        order_key = np.arange(len(prompt), dtype=np.int64)
    return TraceTable(source, arrival_s, prompt, output, order_key)


def read_trace(path: str | Path, format: str | None = None) -> TraceTable:
    """Read a trace file; ``format`` None infers it from the extension and header."""
    path = Path(path)
    fmt = get_format(format) if format else infer_format(path)
    return parse_trace(read_bytes(path, "trace file"), fmt, str(path))


def workload_from_trace_path(path: str, format: str | None = None) -> WorkloadSpec:
    """A trace WorkloadSpec for ``path`` (named after the file); the format is checked or inferred now."""
    file = Path(path)
    read_bytes(file, "trace file")  # missing, a directory, unreadable: said now, not mid-run
    fmt = get_format(format) if format else infer_format(file)
    return WorkloadSpec(name=file.stem, kind="trace", path=str(path), format=fmt.name, source=fmt.description)
