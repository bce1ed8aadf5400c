"""``l3sim run`` and ``l3sim demo`` with the small test cost model in place of the GPU roofline."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import pandas as pd
import pytest
from serving_fakes import fake_system
from typer.testing import CliRunner

from l3sim.cli import app
from l3sim.errors import ConfigError
from l3sim.serving.systems import SYSTEMS

RUNNER = CliRunner()


@pytest.fixture
def small_gpu(monkeypatch):
    monkeypatch.setitem(SYSTEMS, "gpu-only", replace(SYSTEMS["gpu-only"], build=lambda spec, entry: fake_system(200_000)))


def test_run_json_has_the_documented_fields(small_gpu) -> None:
    result = RUNNER.invoke(app, ["run", "--workload", "openr1", "--requests", "20", "--json", "--seed", "3"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    for key in ("system", "model", "workload", "requests", "output_tokens", "makespan_s", "throughput_tok_s"):
        assert key in data
    for key in ("ttft_s", "tbt_s"):
        assert set(data[key]) == {"mean", "p50", "p99"}
    assert data["system"] == "gpu-only" and data["model"] == "gpt-175b" and data["requests"] == 20
    assert data["throughput_tok_s"] == pytest.approx(data["output_tokens"] / data["makespan_s"])


def test_run_out_writes_json_csv_and_plot(small_gpu, tmp_path) -> None:
    out = tmp_path / "run"
    result = RUNNER.invoke(app, ["run", "--requests", "12", "--out", str(out), "--set", "serving.max_batch_tokens=512"])
    assert result.exit_code == 0, result.output
    saved = json.loads((out / "result.json").read_text())
    table = pd.read_csv(out / "requests.csv")
    assert len(table) == 12 and saved["requests"] == 12
    assert table["output_tokens"].sum() == saved["output_tokens"]
    for column in ("id", "arrival_s", "prompt_tokens", "output_tokens", "ttft_s", "tbt_mean_s", "e2e_s", "preemptions"):
        assert column in table.columns
    assert (out / "run.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_run_with_trace_and_dp(small_gpu, shared_dir) -> None:
    trace = shared_dir / "traces" / "AzureLLMInferenceTrace_conv.csv"
    args = ["run", "--trace", str(trace), "--requests", "50", "--arrival", "trace", "--dp", "2", "--tp", "4", "--json"]
    result = RUNNER.invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["dp"] == 2 and data["tp"] == 4 and data["requests_served"] == 50


def test_bad_inputs_are_config_errors(small_gpu) -> None:
    for args, needle in [
        (["run", "--system", "warp"], "gpu-only"),
        (["run", "--scheduler", "magic"], "continuous"),
        (["run", "--set", "serving.max_batch_tokens=-1"], "max_batch_tokens"),
        (["run", "--model", "gpt-5"], "gpt-175b"),
    ]:
        result = RUNNER.invoke(app, args)
        assert isinstance(result.exception, ConfigError), args
        assert needle in str(result.exception), args


def test_cli_prints_errors_without_traceback_and_exits_2() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "l3sim", "run", "--set", "serving.stepping=sideways"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error:") and "serving.stepping" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_demo_writes_report(small_gpu, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr("l3sim.cli.demo_cmd.DEMO_FIELDS", {"platform": "dgx-a100", "model": "gpt-175b",
                                                          "workload": "openr1", "requests": 8})
    result = RUNNER.invoke(app, ["demo", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    report = (tmp_path / "report.md").read_text()
    assert "normalised throughput" in report and "throughput.png" in report
    for system in ("gpu-only", "hbm-pim", "hbm-pim-ext", "cpu-offload", "r-pim", "l3"):
        assert f"| {system} |" in report
    assert (tmp_path / "throughput.png").exists() and (tmp_path / "timeline.json").exists()
