"""run_sweep end to end with small run functions: outputs, reuse, error and crash rows, metric selection."""

from __future__ import annotations

import math

import expt_run_fns as fns
import pandas as pd
import pytest

from l3sim.errors import L3SimError
from l3sim.experiments.runner import run_sweep
from l3sim.experiments.sweep import parse_sweep

BASE = {"platform": "dgx-a100", "model": "llama-2-7b", "workload": "openr1", "requests": 10}
LAYERS = {"llama-2-7b": 32, "llama-2-70b": 80}  # published layer counts of the two presets


def make_sweep(output=None, grid=None):
    grid = grid or {"seed": [0, 1, 2], "serving.max_batch_tokens": {"start": 2048, "stop": 4096, "step": 1024}}
    return parse_sweep({"base": BASE, "grid": grid, "output": output or {}}, source="test")


def test_outputs_hold_one_row_per_point_with_the_closed_form(tmp_path):
    report = run_sweep(make_sweep(), tmp_path, backend="serial", run_fn=fns.linear_metrics, progress=False)
    assert (report.total, report.reused, report.ran) == (9, 0, 9)
    table = pd.read_parquet(tmp_path / "results.parquet")
    csv = pd.read_csv(tmp_path / "results.csv")
    assert list(table.columns[:4]) == ["seed", "serving.max_batch_tokens", "status", "error"]
    assert len(table) == len(csv) == 9
    for _, row in table.iterrows():
        assert row["score"] == fns.expected_score(row["seed"], row["serving.max_batch_tokens"], 32)
        assert row["lat.p50_s"] == row["seed"] / 2
    assert (table["status"] == "ok").all()
    pd.testing.assert_series_equal(csv["score"], table["score"], check_dtype=False)
    assert len(list((tmp_path / "store" / "parts").glob("*.parquet"))) == 9


def test_second_run_recomputes_nothing(tmp_path):
    sweep = make_sweep()
    run_sweep(sweep, tmp_path, backend="serial", run_fn=fns.linear_metrics, progress=False)
    parts = {p: p.stat().st_mtime_ns for p in (tmp_path / "store" / "parts").iterdir()}
    first = pd.read_parquet(tmp_path / "results.parquet")
    again = run_sweep(sweep, tmp_path, backend="joblib", jobs=2, run_fn=fns.linear_metrics, progress=False)
    assert (again.reused, again.ran) == (9, 0)
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "store" / "parts").iterdir()} == parts
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "results.parquet"), first)


def test_extended_grid_runs_only_the_new_points(tmp_path):
    run_sweep(make_sweep(grid={"seed": [0, 1]}), tmp_path, backend="serial", run_fn=fns.linear_metrics, progress=False)
    report = run_sweep(
        make_sweep(grid={"seed": [0, 1, 2, 3]}), tmp_path, backend="serial", run_fn=fns.linear_metrics, progress=False
    )
    assert (report.reused, report.ran) == (2, 2)
    assert list(report.results["seed"]) == [0, 1, 2, 3]


def test_equal_specs_run_once(tmp_path):
    # model.num_layers=32 is what the llama-2-7b preset already has: both points are one spec
    sweep = make_sweep(grid={"model.num_layers": [32, 32, 40]})
    report = run_sweep(sweep, tmp_path, backend="serial", run_fn=fns.linear_metrics, progress=False)
    assert (report.total, report.ran) == (3, 2)
    assert report.results["hash"].iloc[0] == report.results["hash"].iloc[1]
    assert list(report.results["layers"]) == [32, 32, 40]


def test_error_points_are_stored_and_crashes_retried(tmp_path, monkeypatch):
    sweep = make_sweep(grid={"seed": [0, 1, 2]})
    report = run_sweep(sweep, tmp_path, backend="serial", run_fn=fns.crash_on_seed_one, progress=False)
    table = report.results
    assert list(table["status"]) == ["ok", "crashed", "ok"]
    assert "RuntimeError: boom" in table["error"].iloc[1] and math.isnan(table["score"].iloc[1])
    assert len(report.crashed) == 1
    monkeypatch.setenv("L3SIM_TEST_FIXED", "1")
    again = run_sweep(sweep, tmp_path, backend="serial", run_fn=fns.crash_on_seed_one, progress=False)
    assert (again.reused, again.ran) == (2, 1)
    assert list(again.results["status"]) == ["ok"] * 3

    verdicts = run_sweep(sweep, tmp_path / "v", backend="serial", run_fn=fns.odd_seed_does_not_fit, progress=False)
    assert list(verdicts.results["status"]) == ["ok", "error", "ok"]
    assert verdicts.results["error"].iloc[1].startswith("CapacityError")
    assert run_sweep(sweep, tmp_path / "v", backend="serial", run_fn=fns.odd_seed_does_not_fit, progress=False).ran == 0


def test_metric_selection_and_clash_with_grid_key(tmp_path):
    sweep = parse_sweep({"base": {k: v for k, v in BASE.items() if k != "model"}, "grid": {"model": list(LAYERS)},
                         "output": {"metrics": ["layers", "score"]}})
    table = run_sweep(sweep, tmp_path, backend="serial", run_fn=fns.linear_metrics, progress=False).results
    meta = ("model", "status", "error", "elapsed_s", "hash")
    assert [c for c in table.columns if c not in meta] == ["layers", "score"]
    assert list(table["layers"]) == [LAYERS[m] for m in table["model"]]

    clash = parse_sweep({"base": BASE, "grid": {"seed": [4]}, "output": {"metrics": ["seed"]}})
    table = run_sweep(clash, tmp_path / "c", backend="serial", run_fn=fns.worker_pid, progress=False).results
    assert list(table["result.seed"]) == [4] and list(table["seed"]) == [4]


def test_missing_metric_is_named(tmp_path):
    sweep = make_sweep(grid={"seed": [0]}, output={"metrics": ["score", "nope"]})
    with pytest.raises(L3SimError, match=r"\['nope'\].*score"):
        run_sweep(sweep, tmp_path, backend="serial", run_fn=fns.linear_metrics, progress=False)


def test_plots_are_written(tmp_path):
    sweep = make_sweep(output={"plots": [{"x": "serving.max_batch_tokens", "y": "score", "hue": "seed"}]})
    report = run_sweep(sweep, tmp_path, backend="serial", run_fn=fns.linear_metrics, progress=False)
    png = tmp_path / "plots" / "score_vs_serving.max_batch_tokens_by_seed.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert report.files[png.name] == str(png)


def test_invalid_point_writes_nothing(tmp_path):
    sweep = make_sweep(grid={"serving.max_batch_tokens": [1024, -5]})
    with pytest.raises(L3SimError, match="max_batch_tokens"):
        run_sweep(sweep, tmp_path / "out", backend="serial", run_fn=fns.linear_metrics, progress=False)
    assert not (tmp_path / "out").exists()
