"""The Chrome-trace timeline: the window and event cap of ``--timeline-window`` / ``--timeline-max-events``
are honoured and the file's metadata says what was cut (issue 13 item 6)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from l3sim.cli import app
from l3sim.errors import ConfigError
from l3sim.report.timeline import MAX_EVENTS, parse_window, trace_events
from l3sim.serving.plan import Phase
from l3sim.serving.result import RunResult

# Two replicas, segments of 10 s each; replica 1's are listed after replica 0's, as the recorders give them.
# Each segment: 2 phases (gpu, pcie) and k = 3 iterations, so 2 summary events more: 4 events a segment.
PHASES = (Phase("gpu", 0.0, 1.0, "fc"), Phase("pcie", 1.0, 0.5, "kv"))
SEGMENTS = [(replica, 10.0 * i, 10.0 * (i + 1), 3, PHASES) for replica in (0, 1) for i in range(10)]
EVENTS_PER_SEGMENT = 4


def run_result() -> RunResult:
    result = RunResult(system="l3", scheduler="l3", model="m", workload="w", tp=1, dp=2, requests=1)
    result.timeline = list(SEGMENTS)
    result.makespan_s = 100.0
    return result


def events(trace: dict) -> list[dict]:
    return [event for event in trace["traceEvents"] if event["ph"] == "X"]


def test_whole_run_under_the_cap_keeps_everything() -> None:
    trace = trace_events(run_result())
    assert len(events(trace)) == len(SEGMENTS) * EVENTS_PER_SEGMENT
    other = trace["otherData"]
    assert other["events_dropped"] == 0 and other["events_outside_window"] == 0 and "truncated_at_s" not in other
    assert other["max_events"] == MAX_EVENTS and other["window_s"] == [None, None]


def test_the_cap_keeps_whole_segments_in_time_order_across_replicas_and_counts_the_rest() -> None:
    trace = trace_events(run_result(), max_events=10)  # two segments fit (8 events), a third would make 12
    written = events(trace)
    assert len(written) == 8
    # time order, both replicas: replica 0 and replica 1 at t = 0 s, not two of replica 0
    assert {(e["pid"], e["ts"]) for e in written if e["name"] == "fc"} == {(0, 0.0), (1, 0.0)}
    other = trace["otherData"]
    assert other["events_written"] == 8 and other["events_dropped"] == 20 * 4 - 8
    assert other["truncated_at_s"] == 10.0


def test_the_window_keeps_overlapping_segments_and_counts_those_outside() -> None:
    trace = trace_events(run_result(), window=(35.0, 60.0))  # segments [30,40) [40,50) [50,60) per replica
    starts = sorted({e["ts"] / 1e6 for e in events(trace) if e["name"] == "fc"})
    assert starts == [30.0, 40.0, 50.0]
    other = trace["otherData"]
    assert other["window_s"] == [35.0, 60.0]
    assert other["events_outside_window"] == (20 - 6) * EVENTS_PER_SEGMENT and other["events_dropped"] == 0
    open_end = trace_events(run_result(), window=(80.0, None))
    assert sorted({e["ts"] / 1e6 for e in events(open_end) if e["name"] == "fc"}) == [70.0, 80.0, 90.0]


@pytest.mark.parametrize("text", ["10", "a:5", "5:2", "-1:3", "1:inf", "2:2"])
def test_a_bad_window_is_a_config_error_naming_the_option(text: str) -> None:
    with pytest.raises(ConfigError, match="--timeline-window"):
        parse_window(text)


def test_run_cli_honours_window_and_max_events(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    args = ["run", "--model", "llama-2-7b", "--requests", "30", "--timeline", str(path),
            "--timeline-window", "1:", "--timeline-max-events", "5"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    trace = json.loads(path.read_text())
    other = trace["otherData"]
    assert other["window_s"] == [1.0, None] and other["max_events"] == 5
    written = events(trace)
    assert 0 < len(written) <= 5 and other["events_written"] == len(written)
    assert other["events_dropped"] > 0 and other["events_outside_window"] > 0
