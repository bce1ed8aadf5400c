"""Fuzzing the trace parsers: any input gives a checked TraceTable or a TraceFormatError, nothing else."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from l3sim.errors import TraceFormatError
from l3sim.workload import TRACE_FORMATS, TraceTable, parse_trace

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FORMATS = sorted(TRACE_FORMATS)


def parse_or_error(data: bytes, fmt: str) -> TraceTable | None:
    """The parser's result, None for a TraceFormatError; any other exception fails the test."""
    try:
        table = parse_trace(data, fmt, "fuzz")
    except TraceFormatError as exc:
        assert str(exc).startswith("fuzz")
        return None
    n = len(table)
    assert n >= 1
    assert table.prompt_tokens.dtype == np.int64 and np.all(table.prompt_tokens >= 1)
    assert table.output_tokens.dtype == np.int64 and np.all(table.output_tokens >= 1)
    assert table.arrival_s.shape == (n,) and np.all(np.isfinite(table.arrival_s))
    assert len(np.unique(table.order_key)) == n
    return table


@FUZZ
@given(data=st.binary(max_size=400), fmt=st.sampled_from(FORMATS))
def test_arbitrary_bytes(data: bytes, fmt: str) -> None:
    parse_or_error(data, fmt)


# cells that look almost like numbers, dates and JSON values, to reach the deeper checks
CELL = st.one_of(
    st.integers(-3, 10**20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", " ", "1e3", "1.0", "0x10", "2023-11-16 18:15:46.68", "2023-13-01", "1_0", "\x00", '"3"']),
    st.text(max_size=6),
)
HEADERS = {fmt.container: fmt for fmt in TRACE_FORMATS.values()}


def csv_text(header: list[str], rows: list[list[str]]) -> str:
    return "\n".join([",".join(header)] + [",".join(row) for row in rows])


@FUZZ
@given(
    fmt=st.sampled_from(["azure", "csv"]),
    rows=st.lists(st.lists(CELL, min_size=2, max_size=5), min_size=0, max_size=6),
    with_id=st.booleans(),
)
def test_csv_with_a_valid_header_and_arbitrary_cells(fmt: str, rows: list[list[str]], with_id: bool) -> None:
    header = list(TRACE_FORMATS[fmt].required_columns) + (["id"] if with_id else [])
    parse_or_error(csv_text(header, rows).encode(), fmt)


JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**30), 10**30) | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=5,
)


@FUZZ
@given(
    fmt=st.sampled_from(["mooncake", "jsonl"]),
    records=st.lists(st.dictionaries(st.sampled_from(["arrival_s", "prompt_tokens", "output_tokens", "id",
                                                      "timestamp", "input_length", "output_length"]),
                                     JSON_VALUE | st.integers(1, 10**6)), max_size=5),
)
def test_jsonl_records_with_arbitrary_values(fmt: str, records: list[dict]) -> None:
    parse_or_error("\n".join(json.dumps(record) for record in records).encode(), fmt)


ROW = st.tuples(
    st.floats(-1e9, 1e9, allow_nan=False),  # arrival_s
    st.integers(1, 2**40),  # prompt_tokens
    st.integers(1, 2**40),  # output_tokens
)


@FUZZ
@given(rows=st.lists(ROW, min_size=1, max_size=30), container=st.sampled_from(["csv", "jsonl"]))
def test_valid_generic_rows_round_trip(rows: list[tuple[float, int, int]], container: str) -> None:
    if container == "csv":
        text = csv_text(["arrival_s", "prompt_tokens", "output_tokens"], [[repr(a), str(p), str(o)] for a, p, o in rows])
    else:
        text = "\n".join(json.dumps({"arrival_s": a, "prompt_tokens": p, "output_tokens": o}) for a, p, o in rows)
    table = parse_or_error(text.encode(), container)
    assert table is not None
    assert table.arrival_s.tolist() == [a for a, _, _ in rows]
    assert table.prompt_tokens.tolist() == [p for _, p, _ in rows]
    assert table.output_tokens.tolist() == [o for _, _, o in rows]


@FUZZ
@given(
    rows=st.lists(ROW, min_size=1, max_size=20),
    position=st.integers(0, 19),
    blank_lines=st.integers(0, 3),
    bad_cell=st.sampled_from(["0", "-1", "x", "2.5", "", "nan"]),
)
def test_a_bad_row_is_reported_at_its_line(rows, position: int, blank_lines: int, bad_cell: str) -> None:
    lines = ["arrival_s,prompt_tokens,output_tokens"] + [""] * blank_lines
    body = [f"{a!r},{p},{o}" for a, p, o in rows]
    position = min(position, len(body))
    body.insert(position, f"0,{bad_cell},1")
    text = "\n".join(lines + body)
    expected_line = 1 + blank_lines + position + 1
    with pytest.raises(TraceFormatError, match=rf"^fuzz:{expected_line}: field 'prompt_tokens'"):
        parse_trace(text.encode(), "csv", "fuzz")
