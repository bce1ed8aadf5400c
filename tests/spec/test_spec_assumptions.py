"""Assumption profiles: every setting applied, realistic equals the defaults, order against --set, bad input."""

from __future__ import annotations

import json
import tomllib
from importlib import resources
from typing import Any

import pytest
from typer.testing import CliRunner

from l3sim.cli import app
from l3sim.errors import ConfigError
from l3sim.experiments.studies.base import StudyOptions
from l3sim.experiments.sweep import parse_sweep
from l3sim.spec.run import build_run_spec

RUNNER = CliRunner()
FIELDS = {"platform": "dgx-a100", "model": "gpt-175b", "workload": "openr1"}


def _leaves(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``dotted.key -> value`` for every leaf of a nested dict (written here, not the module's flattener)."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, dict):
            out.update(_leaves(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _shipped(name: str) -> dict[str, Any]:
    """The profile file's settings, read straight from the package data with tomllib."""
    entry = resources.files("l3sim").joinpath("presets", "assumptions", f"{name}.toml")
    return _leaves(tomllib.loads(entry.read_text()))


def _diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    a, b = _leaves(before), _leaves(after)
    return {key: (a[key], b[key]) for key in a if a[key] != b[key]}


@pytest.mark.parametrize("name", ["paper", "realistic"])
def test_every_setting_of_a_profile_is_applied(name: str) -> None:
    settings = _shipped(name)
    default = build_run_spec(**FIELDS).model_dump()
    resolved = build_run_spec(**FIELDS, assumptions=name).model_dump()
    flat = _leaves(resolved)
    for key, value in settings.items():
        assert flat[key] == value, key
    # The resolved spec differs from the default spec exactly where the file's value differs from the default.
    expected = {key for key, value in settings.items() if _leaves(default)[key] != value} | {"assumptions"}
    assert set(_diff(default, resolved)) == expected
    assert resolved["assumptions"] == name


def test_realistic_is_todays_defaults() -> None:
    default = build_run_spec(**FIELDS).model_dump()
    assert set(_diff(default, build_run_spec(**FIELDS, assumptions="realistic").model_dump())) == {"assumptions"}


def test_paper_differs_from_realistic_where_the_paper_says_so() -> None:
    realistic = build_run_spec(**FIELDS, assumptions="realistic").model_dump()
    paper = build_run_spec(**FIELDS, assumptions="paper").model_dump()
    changed = _diff(realistic, paper)
    assert changed["platform.host_link.bw_bytes_per_s"] == (31.5e9, 32e9)  # Table I's 32 GB/s
    assert changed["serving.kv_reservation"] == ("prompt", "full")  # no recompute pre-emption
    assert changed["gpu.cost_source"] == ("calibrated", "attacc")  # Sec. VI: the AttAcc simulator
    assert paper["gpu"]["mem_util"] == 0.85


def test_set_overrides_come_after_the_profile() -> None:
    spec = build_run_spec(["serving.kv_reservation=prompt", "platform.host_link.bw_bytes_per_s=1e9"],
                          **FIELDS, assumptions="paper")
    assert spec.serving.kv_reservation == "prompt"
    assert spec.platform.host_link.bw_bytes_per_s == 1e9
    assert spec.assumptions == "paper"


def test_a_field_the_run_names_itself_beats_the_profile(tmp_path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text("requests = 7\nserving.max_batch_tokens = 512\n")
    assert build_run_spec(**FIELDS, assumptions=str(path)).requests == 7
    spec = build_run_spec(**FIELDS, requests=100, assumptions=str(path))
    assert spec.requests == 100 and spec.serving.max_batch_tokens == 512
    assert spec.assumptions == str(path)


def test_unknown_profile_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="unknown assumption preset 'papr'; known: paper, realistic"):
        build_run_spec(**FIELDS, assumptions="papr")


@pytest.mark.parametrize("line, key", [
    ("gpu.compute_utl = 0.5", "gpu.compute_utl"),
    ("sede = 1", "sede"),
    ("seed.x = 1", "seed.x"),
    ("platform.gpu.tflops = 1", "platform.gpu.tflops"),
])
def test_a_key_that_is_not_a_runspec_setting_names_file_and_key(tmp_path, line: str, key: str) -> None:
    path = tmp_path / "typo.toml"
    path.write_text(f"gpu.mem_util = 0.85\n{line}\n")
    with pytest.raises(ConfigError) as info:
        build_run_spec(**FIELDS, assumptions=str(path))
    assert str(path) in str(info.value) and repr(key) in str(info.value)


def test_a_bad_value_names_the_profile(tmp_path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("gpu.mem_util = 3.0\n")
    with pytest.raises(ConfigError, match="bad.toml") as info:
        build_run_spec(**FIELDS, assumptions=str(path))
    assert "gpu.mem_util" in str(info.value)


def test_sweep_base_applies_a_profile() -> None:
    sweep = parse_sweep({"base": {**FIELDS, "assumptions": "paper", "requests": 3},
                         "grid": {"system": ["gpu-only", "l3"]}})
    for point in sweep.points("run"):
        assert point.spec["assumptions"] == "paper"
        assert point.spec["serving"]["kv_reservation"] == "full"
        assert point.spec["requests"] == 3


def test_study_options_check_the_profile_and_pass_it_on(tmp_path) -> None:
    with pytest.raises(ConfigError, match="known: paper, realistic"):
        StudyOptions(tmp_path, assumptions="nope")
    assert StudyOptions(tmp_path, quick=True, assumptions="paper").spec_fields == {
        "requests": 100, "assumptions": "paper"}
    assert StudyOptions(tmp_path).spec_fields == {"requests": 1000}


def test_compare_json_rows_name_the_profile() -> None:
    result = RUNNER.invoke(app, ["compare", "--systems", "gpu-only,hbm-pim-ext", "--requests", "4",
                                 "--assumptions", "paper", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [row["assumptions"] for row in rows] == ["paper", "paper"]
    assert {"system", "normalized_throughput", "oom", "steady_throughput_tok_s"} <= set(rows[0])


def test_run_with_an_unknown_profile_is_a_clean_error() -> None:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "l3sim", "run", "--requests", "2", "--assumptions", "nope"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "error: unknown assumption preset 'nope'; known: paper, realistic" in proc.stderr
