"""``l3sim validate gpu``: the error table from real profiles and from a synthetic one with a known error."""

from __future__ import annotations

import json

import pytest
from gpu_csv_helpers import write_mlp_csv
from typer.testing import CliRunner

from l3sim.cli import app

RUNNER = CliRunner()


def test_known_error_on_a_compute_bound_synthetic_profile(tmp_path):
    # Llama-2-70B shape at TP1, 4096 tokens: the QKV GEMM is compute-bound on the roofline:
    # 2 x 4096 x 8192 x (8192 + 2 x 1024) FLOPs / (312e12 x 0.8). Measured twice that -> error -0.5.
    flops = 2 * 4096 * 8192 * (8192 + 2 * 1024)
    measured_ms = 2 * flops / (312e12 * 0.8) * 1e3
    write_mlp_csv(tmp_path / "x_mlp.csv", {(4096, 1): {"attn_pre_proj": measured_ms}})
    result = RUNNER.invoke(app, ["validate", "gpu", "--profiles", str(tmp_path), "--set", "cost_source=roofline",
                                 "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)["mlp"]
    qkv = [r for r in rows if r["operator"] == "qkv_proj"]
    assert len(qkv) == 1 and qkv[0]["tokens"] == "513-4096" and qkv[0]["n"] == 1
    assert qkv[0]["mean_err"] == pytest.approx(-0.5, rel=1e-9)
    assert qkv[0]["max_abs_err"] == pytest.approx(0.5, rel=1e-9)


def test_missing_folder_is_a_clean_error(tmp_path):
    result = RUNNER.invoke(app, ["validate", "gpu", "--profiles", str(tmp_path / "none")])
    assert result.exit_code != 0 and "profiles directory not found" in str(result.exception)


@pytest.mark.shared
def test_real_profiles_table(shared_dir):
    folder = shared_dir / "profiles/vidur-a100"
    result = RUNNER.invoke(app, ["validate", "gpu", "--profiles", str(folder), "--files",
                                 "Llama-2-70b-hf_mlp.csv", "--set", "cost_source=roofline", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    rows = data["mlp"]
    # 4 TP degrees x 3 token buckets (the file stops at 4096) x 5 operators (no "other": the roofline has none).
    assert len(rows) == 4 * 3 * 5
    assert sum(r["n"] for r in rows if r["operator"] == "fc") == 1044 - 8  # 8 repeated points averaged
    assert len(data["rows"]) == 1044 - 8
    large = [r for r in rows if r["operator"] == "fc" and r["tokens"] == "513-4096"]
    assert all(r["mean_abs_err"] < 0.2 for r in large)
    # 16 workers span two nodes (devices_per_node = 8): not an NVLink ring, so not compared.
    assert {r["tp"] for r in data["all_reduce"]} == {2, 4, 8}
