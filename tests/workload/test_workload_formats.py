"""Trace parsing on hand-written files: values, ordering, and errors that name file, line and field."""

from __future__ import annotations

import json

import numpy as np
import pytest

from l3sim.errors import ConfigError, TraceFormatError
from l3sim.spec.workload import WorkloadSpec
from l3sim.workload import load_requests, parse_trace, read_trace, workload_from_trace_path

AZURE_HEADER = "TIMESTAMP,ContextTokens,GeneratedTokens\n"


def test_a_format_the_registry_lacks_is_an_error_listing_the_known_ones(tmp_path) -> None:
    """WorkloadSpec.format takes any name (one place to add a format: TRACE_FORMATS); reading checks it."""
    trace = tmp_path / "t.csv"
    trace.write_text(AZURE_HEADER + "2023-11-16 18:15:46.5,374,44\n")
    workload = WorkloadSpec(name="t", kind="trace", path=str(trace), format="burstgpt")
    with pytest.raises(TraceFormatError, match="unknown trace format 'burstgpt'; known: azure, mooncake"):
        load_requests(workload, None, 0)


def test_azure_rows() -> None:
    text = AZURE_HEADER + "2023-11-16 18:15:46.5,374,44\r\n2023-11-16 18:16:46.5,5,1\n\n"
    table = parse_trace(text.encode(), "azure", "t.csv")
    assert table.arrival_s.tolist() == [0.0, 60.0]
    assert table.prompt_tokens.tolist() == [374, 5] and table.output_tokens.tolist() == [44, 1]


def test_generic_csv_with_ids_orders_ties_by_id(tmp_path) -> None:
    path = tmp_path / "mine.csv"
    path.write_text("id,arrival_s,prompt_tokens,output_tokens,extra\n7,1.5,10,20,x\n3,1.5,11,21,y\n5,0.5,12,1e1,z\n")
    workload = workload_from_trace_path(str(path))
    assert workload.format == "csv"
    requests = load_requests(workload, None, seed=0, arrival="trace:2")
    # sorted by arrival, ties by the id column (3 before 7); rebased to 0 and scaled by 2
    assert [(r.id, r.arrival_s, r.prompt_tokens, r.output_tokens) for r in requests] == [
        (0, 0.0, 12, 10),
        (1, 2.0, 11, 21),
        (2, 2.0, 10, 20),
    ]


def test_generic_jsonl(tmp_path) -> None:
    path = tmp_path / "mine.jsonl"
    rows = [{"arrival_s": 3, "prompt_tokens": 4, "output_tokens": 5}, {"arrival_s": 1.25, "prompt_tokens": 6,
                                                                        "output_tokens": 7}]
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    table = read_trace(path)
    assert table.arrival_s.tolist() == [3.0, 1.25] and table.order_key.tolist() == [0, 1]


def test_mooncake_milliseconds() -> None:
    text = '{"timestamp": 1500, "input_length": 3, "output_length": 2, "hash_ids": [0]}\n'
    assert parse_trace(text.encode(), "mooncake", "m").arrival_s.tolist() == [1.5]


@pytest.mark.parametrize(
    ("fmt", "text", "where"),
    [
        ("azure", AZURE_HEADER + "2023-11-16 18:15:46.5,374,44\n2023-11-16 18:15:47,x,3\n", "f:3: field 'ContextTokens'"),
        ("azure", AZURE_HEADER + "2023-11-16 18:15:46.5,374,44\n\nnot a date,1,3\n", "f:4: field 'TIMESTAMP'"),
        ("azure", AZURE_HEADER + "2023-11-16 18:15:46.5,374,0\n", "f:2: field 'GeneratedTokens'"),
        ("azure", AZURE_HEADER + "2023-11-16 18:15:46.5,374\n", "f:2: expected 3 comma-separated fields"),
        ("azure", "TIMESTAMP,Context,GeneratedTokens\n", "f:1: header"),
        ("azure", AZURE_HEADER, "f: no requests"),
        ("csv", "arrival_s,prompt_tokens,output_tokens\n0,1.5,3\n", "f:2: field 'prompt_tokens'"),
        ("csv", "arrival_s,prompt_tokens,output_tokens\n0,1,3\ninf,1,3\n", "f:3: field 'arrival_s'"),
        ("csv", "arrival_s,prompt_tokens,output_tokens\n0,-4,3\n", "f:2: field 'prompt_tokens'"),
        ("csv", "arrival_s,prompt_tokens,output_tokens,id\n0,1,3,2\n0,1,3,2\n", "f:3: field 'id'"),
        ("csv", "arrival_s,prompt_tokens,prompt_tokens,output_tokens\n", "f:1: header"),
        ("csv", "arrival_s,prompt_tokens,output_tokens\n0,1,99999999999999999999\n", "f:2: field 'output_tokens'"),
        ("jsonl", '{"arrival_s": 0, "prompt_tokens": 1, "output_tokens": 1}\n{"arrival_s": 0}\n', "f:2: field 'prompt_tokens'"),
        ("jsonl", '{"arrival_s": 0, "prompt_tokens": true, "output_tokens": 1}\n', "f:1: field 'prompt_tokens'"),
        ("jsonl", '{"arrival_s": 0, "prompt_tokens": "12", "output_tokens": 1}\n', "f:1: field 'prompt_tokens'"),
        ("jsonl", '\n\n{"arrival_s": 0,\n', "f:3: invalid JSON"),
        ("jsonl", "[1, 2]\n", "f:1: expected a JSON object"),
        ("mooncake", '{"timestamp": NaN, "input_length": 3, "output_length": 2}\n', "f:1: field 'timestamp'"),
    ],
)
def test_malformed_rows_name_file_line_and_field(fmt: str, text: str, where: str) -> None:
    with pytest.raises(TraceFormatError) as info:
        parse_trace(text.encode(), fmt, "f")
    assert str(info.value).startswith(where)


def test_zero_output_tokens_is_an_error_not_a_drop() -> None:
    with pytest.raises(TraceFormatError, match=r"f:1: field 'output_length': expected a whole number of tokens >= 1"):
        parse_trace(b'{"timestamp": 0, "input_length": 3, "output_length": 0}\n', "mooncake", "f")


def test_bad_utf8_names_its_line() -> None:
    with pytest.raises(TraceFormatError, match=r"^f:3: not UTF-8"):
        parse_trace(b"arrival_s,prompt_tokens,output_tokens\n0,1,1\n0,\xff,1\n", "csv", "f")


def test_format_inference_errors(tmp_path) -> None:
    odd = tmp_path / "trace.txt"
    odd.write_text("x")
    with pytest.raises(TraceFormatError, match="extension"):
        workload_from_trace_path(str(odd))
    unknown = tmp_path / "trace.csv"
    unknown.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(TraceFormatError, match=r"trace.csv:1: columns .* match no csv format"):
        workload_from_trace_path(str(unknown))
    with pytest.raises(ConfigError, match="not found"):
        workload_from_trace_path(str(tmp_path / "absent.csv"))
    with pytest.raises(TraceFormatError, match="unknown trace format 'parquet'"):
        workload_from_trace_path(str(unknown), format="parquet")


def test_count_beyond_trace_is_a_config_error(tmp_path) -> None:
    path = tmp_path / "two.csv"
    path.write_text("arrival_s,prompt_tokens,output_tokens\n0,1,1\n1,1,1\n")
    with pytest.raises(ConfigError, match=r"asked for 3 requests, the trace has 2 \(--requests 0 serves the whole"):
        load_requests(workload_from_trace_path(str(path)), 3, seed=0)


def test_datetime_spans_beyond_int64_nanoseconds_stay_exact() -> None:
    # 1677 to 2262 is about 5.8e11 s, more than int64 nanoseconds can hold as a plain difference
    text = AZURE_HEADER + "1678-01-01 00:00:00,1,1\n2261-12-31 00:00:00,1,1\n"
    span_days = (np.datetime64("2261-12-31") - np.datetime64("1678-01-01")).astype(np.int64)
    table = parse_trace(text.encode(), "azure", "f")
    assert table.arrival_s[1] == pytest.approx(span_days * 86400.0, rel=1e-12)
