"""Trace formats: which container (CSV or JSONL) and which columns mean what.

Adding a format is one entry in :data:`TRACE_FORMATS` (and its name in
``WorkloadSpec.format``): the readers and checks are shared.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from l3sim.errors import TraceFormatError
from l3sim.inputs import read_bytes
from l3sim.workload.rows import decode, parse_json_line

ArrivalUnit = Literal["s", "ms", "datetime"]


@dataclass(frozen=True, slots=True)
class TraceFormat:
    """The columns of one trace format.

    ``arrival_unit``: seconds, milliseconds, or an ISO-8601 date-time string.
    ``id_column``: optional column whose integers order requests that arrive at
    the same time (unique); without it the file's row order is used.
    """

    name: str
    container: Literal["csv", "jsonl"]
    arrival_column: str
    arrival_unit: ArrivalUnit
    prompt_column: str
    output_column: str
    id_column: str | None
    description: str

    @property
    def required_columns(self) -> tuple[str, str, str]:
        return (self.arrival_column, self.prompt_column, self.output_column)


TRACE_FORMATS: dict[str, TraceFormat] = {
    "azure": TraceFormat(
        "azure", "csv", "TIMESTAMP", "datetime", "ContextTokens", "GeneratedTokens", None,
        "Azure LLM inference trace 2023 (Patel et al., Splitwise, ISCA 2024): CSV with a header",
    ),
    "mooncake": TraceFormat(
        "mooncake", "jsonl", "timestamp", "ms", "input_length", "output_length", None,
        "Mooncake FAST'25 trace (Qin et al.): one JSON object per line; hash_ids are not used",
    ),
    "csv": TraceFormat(
        "csv", "csv", "arrival_s", "s", "prompt_tokens", "output_tokens", "id",
        "generic CSV with a header: arrival_s, prompt_tokens, output_tokens[, id]",
    ),
    "jsonl": TraceFormat(
        "jsonl", "jsonl", "arrival_s", "s", "prompt_tokens", "output_tokens", "id",
        "generic JSONL: one object per line with arrival_s, prompt_tokens, output_tokens[, id]",
    ),
}

CONTAINER_BY_SUFFIX = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}


def get_format(name: str) -> TraceFormat:
    """The format called ``name``; unknown names raise TraceFormatError listing the known ones."""
    try:
        return TRACE_FORMATS[name]
    except KeyError:
        raise TraceFormatError(f"unknown trace format {name!r}; known: {', '.join(TRACE_FORMATS)}") from None


def _first_line_columns(path: Path, container: str) -> set[str]:
    """Column names of the header (CSV) or of the first non-blank line's object (JSONL)."""
    text = decode(read_bytes(path, "trace file"), str(path))
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        if container == "csv":
            return {name.strip() for name in line.rstrip("\r").split(",")}
        return set(parse_json_line(line, number, str(path)))
    raise TraceFormatError(f"{path}: empty file, no header or first record to infer the format from")


def infer_format(path: str | Path) -> TraceFormat:
    """The format of a trace file from its extension and its header (CSV) or first record (JSONL)."""
    path = Path(path)
    container = CONTAINER_BY_SUFFIX.get(path.suffix.lower())
    if container is None:
        known = ", ".join(CONTAINER_BY_SUFFIX)
        raise TraceFormatError(f"{path}: cannot infer the trace format from extension {path.suffix!r}; "
                               f"expected one of {known}, or name the format")
    columns = _first_line_columns(path, container)
    for fmt in TRACE_FORMATS.values():
        if fmt.container == container and set(fmt.required_columns) <= columns:
            return fmt
    expected = "; ".join(
        f"{fmt.name}: {', '.join(fmt.required_columns)}" for fmt in TRACE_FORMATS.values() if fmt.container == container
    )
    raise TraceFormatError(f"{path}:1: columns {sorted(columns)} match no {container} format; expected {expected}")
