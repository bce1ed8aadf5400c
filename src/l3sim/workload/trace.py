"""Trace files: read one into checked arrays, and describe one as a WorkloadSpec."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from l3sim.errors import ConfigError
from l3sim.inputs import read_bytes
from l3sim.spec.workload import WorkloadSpec
from l3sim.workload import columns
from l3sim.workload.formats import TraceFormat, get_format, infer_format
from l3sim.workload.rows import decode, read_csv_columns, read_jsonl_columns

UNITS_PER_SECOND = {"s": 1.0, "ms": 1000.0}

_AZURE = "https://github.com/Azure/AzurePublicDataset/raw/master/data/{} (Azure LLM inference trace 2023, CC-BY 4.0)"
_MOONCAKE = ("https://github.com/kvcache-ai/Mooncake/raw/main/FAST25-release/traces/{} (Mooncake FAST'25 "
             "release, Apache-2.0)")
#: Where the public traces the docs use come from, by the file names they have in ../shared (they are data,
#: not shipped with l3sim): a missing one is reported with its download address.
PUBLIC_TRACES = {
    "AzureLLMInferenceTrace_conv.csv": _AZURE.format("AzureLLMInferenceTrace_conv.csv"),
    "AzureLLMInferenceTrace_code.csv": _AZURE.format("AzureLLMInferenceTrace_code.csv"),
    "mooncake_conversation_trace.jsonl": _MOONCAKE.format("conversation_trace.jsonl"),
    "mooncake_synthetic_trace.jsonl": _MOONCAKE.format("synthetic_trace.jsonl"),
}


def read_trace_bytes(path: Path) -> bytes:
    """The bytes of a trace file; a missing public trace (PUBLIC_TRACES) is reported with where to get it."""
    try:
        return read_bytes(path, "trace file")
    except ConfigError as exc:
        source = PUBLIC_TRACES.get(path.name)
        if source is None or path.exists():
            raise
        raise ConfigError(f"{exc}. This public trace is not shipped with l3sim: download it from {source} "
                          "and give its path (--trace FILE, or --set workload.path=FILE for a trace preset)") from None


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
    data = read_trace_bytes(path)  # before the format is inferred from the file, so a missing one says where to get it
    fmt = get_format(format) if format else infer_format(path)
    return parse_trace(data, fmt, str(path))


def workload_from_trace_path(path: str, format: str | None = None) -> WorkloadSpec:
    """A trace WorkloadSpec for ``path`` (named after the file); the format is checked or inferred now."""
    file = Path(path)
    read_trace_bytes(file)  # missing, a directory, unreadable: said now, not mid-run
    fmt = get_format(format) if format else infer_format(file)
    return WorkloadSpec(name=file.stem, kind="trace", path=str(path), format=fmt.name, source=fmt.description)
