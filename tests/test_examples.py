"""Every file in examples/ runs, at small sizes, and examples/README.md lists it (issue 13 item 3)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from l3sim.cli import app

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
RUNNER = CliRunner()


def invoke(args: list[str]) -> dict:
    """``l3sim args --json`` from the repository root (the examples' paths are relative to it)."""
    result = RUNNER.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output + str(result.exception)
    return json.loads(result.stdout)


@pytest.fixture(autouse=True)
def at_root(monkeypatch) -> None:
    monkeypatch.chdir(ROOT)


def test_the_sweep_runs_with_fewer_requests(tmp_path: Path) -> None:
    text = (EXAMPLES / "sweep-batch-budget.toml").read_text()
    assert "requests = 60" in text
    small = tmp_path / "sweep.toml"
    small.write_text(text.replace("requests = 60", "requests = 6"))
    summary = invoke(["sweep", str(small), "--out", str(tmp_path / "out"), "--backend", "serial"])
    assert summary["points"] == 6 and summary["ok"] == 6
    table = pd.read_csv(tmp_path / "out" / "results.csv")
    assert set(table["system"]) == {"gpu-only", "l3"} and (table["throughput_tok_s"] > 0).all()


def test_the_custom_model_config_runs_on_eight_gpus() -> None:
    data = invoke(["run", "--model", "examples/my-model/config.json", "--requests", "8"])
    assert data["model"] == "my-llama-3b" and data["tp"] * data["dp"] == 8 and data["requests_served"] == 8


def test_the_trace_runs_whole_with_its_arrival_times() -> None:
    rows = pd.read_csv(EXAMPLES / "traces" / "small-trace.csv")
    data = invoke(["run", "--model", "llama-2-7b", "--trace", "examples/traces/small-trace.csv",
                   "--requests", "0", "--arrival", "trace"])
    assert data["requests_served"] == len(rows) == 40
    assert data["makespan_s"] >= rows["arrival_s"].max()  # the last request arrives before the run ends


def test_the_spec_file_runs_and_says_what_it_sets(tmp_path: Path) -> None:
    small = tmp_path / "run.toml"
    small.write_text((EXAMPLES / "run-spec.toml").read_text().replace("requests = 40", "requests = 6"))
    data = invoke(["run", "--spec", str(small)])
    assert data["system"] == "l3" and data["model"] == "my-llama-3b" and data["requests"] == 6


def test_every_example_is_listed_in_the_readme_and_run_here() -> None:
    files = sorted(str(p.relative_to(EXAMPLES)) for p in EXAMPLES.rglob("*") if p.is_file() and p.name != "README.md")
    tested = {"sweep-batch-budget.toml", "my-model/config.json", "traces/small-trace.csv", "run-spec.toml"}
    assert set(files) == tested  # a new example needs a test above
    readme = (EXAMPLES / "README.md").read_text()
    for name in files:
        assert f"`{name}`" in readme
