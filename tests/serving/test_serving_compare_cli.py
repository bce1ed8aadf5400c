"""``l3sim compare`` and ``l3sim run --timeline`` from the command line."""

from __future__ import annotations

import json
import math

from typer.testing import CliRunner

from l3sim.cli import app
from l3sim.serving.compare import comparison_rows
from l3sim.serving.result import RunResult

RUNNER = CliRunner()


def test_compare_json_rows_normalised_to_gpu_only():
    result = RUNNER.invoke(
        app, ["compare", "--systems", "gpu-only,hbm-pim-ext,cpu-offload", "--requests", "6", "--json"]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["system"] for r in rows] == ["gpu-only", "hbm-pim-ext", "cpu-offload"]
    base = rows[0]["throughput_tok_s"]
    for row in rows:
        assert row["oom"] is False
        assert math.isclose(row["normalized_throughput"], row["throughput_tok_s"] / base)


def test_compare_unknown_system_lists_the_valid_ones():
    result = RUNNER.invoke(app, ["compare", "--systems", "gpu-only,warp-drive"])
    assert result.exit_code != 0
    assert "warp-drive" in str(result.exception) and "l3" in str(result.exception)


def test_normalisation_falls_back_to_l3_when_gpu_only_is_oom():
    labels = dict(model="m", workload="w", tp=8, dp=1, requests=1, scheduler="s")
    gpu = RunResult(system="gpu-only", oom=True, oom_reason="weights", **labels)
    l3 = RunResult(system="l3", throughput_tok_s=200.0, **labels)
    cpu = RunResult(system="cpu-offload", throughput_tok_s=50.0, **labels)
    rows = comparison_rows([gpu, cpu, l3])
    assert rows[0]["oom"] and math.isnan(rows[0]["normalized_throughput"])
    assert rows[1]["normalized_throughput"] == 0.25 and rows[2]["normalized_throughput"] == 1.0
    assert rows[1]["normalized_to"] == "l3"


def test_run_timeline_is_chrome_trace_json_with_device_tracks(tmp_path):
    path = tmp_path / "trace.json"
    result = RUNNER.invoke(
        app, ["run", "--system", "l3", "--scheduler", "subbatch", "--requests", "5", "--timeline", str(path), "--json"]
    )
    assert result.exit_code == 0, result.output
    trace = json.loads(path.read_text())
    events = trace["traceEvents"]
    names = {e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "thread_name"}
    assert {"gpu", "pcie", "pim rankset 0", "pim rankset 3"} <= names
    complete = [e for e in events if e["ph"] == "X"]
    assert complete and all(e["dur"] >= 0 and e["ts"] >= 0 for e in complete)
    assert all({"pid", "tid", "ts", "dur", "name"} <= set(e) for e in complete)
