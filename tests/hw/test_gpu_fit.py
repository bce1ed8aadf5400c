"""The calibration fit: it recovers known parameters from profiles generated with them; its CLI and errors."""

from __future__ import annotations

import json
import tomllib

import numpy as np
import pytest
from gpu_csv_helpers import LLAMA70_SHAPE, run_spec, write_mlp_csv
from typer.testing import CliRunner

from l3sim.cli import app
from l3sim.errors import ConfigError
from l3sim.hw.gpu.calibrated import CalibratedOperators
from l3sim.hw.gpu.fit import fit_calibration
from l3sim.hw.gpu.operators import layer_operators, other_operators
from l3sim.hw.gpu.profile_points import VIDUR_TO_OPERATOR, load_profile_points, profile_model
from l3sim.spec.gpu_calibration import FITTED_FIELDS, GPUCalibrationSpec

RUNNER = CliRunner()
A100 = run_spec().platform.gpu
LLAMA7_SHAPE = {"n_head": 32, "n_kv_head": 32, "n_embd": 4096, "n_expanded_embd": 11008, "vocab_size": 32000,
                "use_gated_mlp": "True"}
# Known parameters, each away from the shipped defaults (the fit starts from those).
TRUTH = GPUCalibrationSpec(tensor_efficiency=0.7, small_tile_efficiency=0.9, hbm_efficiency=0.8, overlap_exponent=3.5,
                           kernel_overhead_s=4e-6, elementwise_overhead_s=3e-6, row_bytes_per_cycle=12.0,
                           row_latency_cycles=2500.0, flat_elementwise_efficiency=0.8)
TOKENS = (1, 2, 8, 32, 64, 100, 128, 200, 256, 300, 384, 512, 700, 1024, 1500, 2048, 3000, 4096)


def _synthetic_profile(path, shape: dict, calibration: GPUCalibrationSpec):
    """A Vidur-format profile whose every kernel time (ms) is the calibrated model's with ``calibration``."""
    import pandas as pd

    model = profile_model(pd.DataFrame([{**shape, "use_gated_mlp": True}]), path.stem)
    points = {}
    for tp in (1, 2, 4, 8):
        operators = layer_operators(model, tp) + other_operators(model, tp)
        names = [op.name for op in operators]
        times = CalibratedOperators(operators, A100, calibration).times_s(np.array(TOKENS, dtype=float))
        for i, tokens in enumerate(TOKENS):
            points[(tokens, tp)] = {kernel: float(times[i, names.index(name)]) * 1e3
                                    for kernel, name in VIDUR_TO_OPERATOR.items() if name in names}
    return write_mlp_csv(path, points, shape)


def test_fit_recovers_known_parameters(tmp_path):
    files = [_synthetic_profile(tmp_path / "a_mlp.csv", LLAMA70_SHAPE, TRUTH),
             _synthetic_profile(tmp_path / "b_mlp.csv", LLAMA7_SHAPE, TRUTH)]
    fitted, rms = fit_calibration([load_profile_points(f) for f in files], A100)
    assert rms < 1e-6
    for name in FITTED_FIELDS:
        assert getattr(fitted, name) == pytest.approx(getattr(TRUTH, name), rel=1e-3), name


def test_fit_reports_the_rms_of_its_relative_errors(tmp_path):
    """With scatter no parameter can absorb (alternate token counts 10 % slow and fast), the reported figure
    is sqrt(mean((model / measured - 1)^2)) over every measured kernel at the fitted parameters."""
    path = _synthetic_profile(tmp_path / "a_mlp.csv", LLAMA7_SHAPE, TRUTH)
    points = load_profile_points(path)
    for tp, (tokens, measured) in points.by_tp.items():
        measured *= np.where(np.arange(len(tokens)) % 2, 1.1, 0.9)[:, None]
    fitted, rms = fit_calibration([points], A100)
    errors = []
    for tp, (tokens, measured) in points.by_tp.items():
        operators = layer_operators(points.model, tp) + other_operators(points.model, tp)
        names = [op.name for op in operators]
        model = CalibratedOperators(operators, A100, fitted).times_s(np.asarray(tokens, dtype=float))
        for kernel in measured.columns:
            errors.append(model[:, names.index(VIDUR_TO_OPERATOR[kernel])] / measured[kernel].to_numpy() - 1.0)
    assert 0.05 < rms == pytest.approx(float(np.sqrt(np.mean(np.concatenate(errors) ** 2))), rel=1e-9)


def test_fit_with_no_profiles_is_an_error():
    with pytest.raises(ConfigError, match="^the calibration fit needs at least one profile$"):
        fit_calibration([], A100)


def test_fit_command_writes_a_usable_gpu_preset(tmp_path):
    _synthetic_profile(tmp_path / "a_mlp.csv", LLAMA70_SHAPE, TRUTH)
    out = tmp_path / "fit.toml"
    result = RUNNER.invoke(app, ["validate", "gpu", "--profiles", str(tmp_path), "--fit", "--files", "a_mlp.csv",
                                 "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["profiles"][0]["used_in_fit"] and report["profiles"][0]["fc_mape"] < 1e-3
    written = tomllib.loads(out.read_text())
    assert written["num_sms"] == 108 and written["calibration"]["tensor_efficiency"] == pytest.approx(0.7, rel=1e-3)
    # The written file is a GPU preset: validating with it reproduces the synthetic profile.
    again = RUNNER.invoke(app, ["validate", "gpu", "--profiles", str(tmp_path), "--gpu", str(out), "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.output)["fc_mape"] < 1e-3


def test_fit_without_matching_files_is_an_error(tmp_path):
    _synthetic_profile(tmp_path / "a_mlp.csv", LLAMA70_SHAPE, TRUTH)
    result = RUNNER.invoke(app, ["validate", "gpu", "--profiles", str(tmp_path), "--fit", "--files", "nothing*.csv",
                                 "--out", str(tmp_path / "x.toml")])
    assert result.exit_code != 0 and "no files" in str(result.exception) and "nothing*.csv" in str(result.exception)
    no_out = RUNNER.invoke(app, ["validate", "gpu", "--profiles", str(tmp_path), "--fit"])
    assert no_out.exit_code != 0 and "--out" in str(no_out.exception)
    with pytest.raises(ConfigError):
        fit_calibration([], A100)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda header, row: (header.replace("num_tokens,", "tokens,"), row), ["line 1", "num_tokens"]),
        (lambda header, row: (header, row.replace("0.5,", "abc,", 1)), ["line 2", "time_stats.attn_pre_proj.min"]),
        (lambda header, row: (header, row.replace("0.5,", "-0.5,", 1)), ["line 2", "time_stats.attn_pre_proj.min"]),
    ],
)
def test_bad_profile_csv_names_file_line_and_column(tmp_path, edit, expected):
    path = write_mlp_csv(tmp_path / "bad_mlp.csv", {(16, 1): {k: 0.5 for k in ("attn_pre_proj", "attn_post_proj",
                                                                              "mlp_up_proj", "mlp_act", "mlp_down_proj")}})
    header, row = path.read_text().splitlines()
    header, row = edit(header, row)
    path.write_text(f"{header}\n{row}\n")
    for args in (["validate", "gpu", "--profiles", str(tmp_path)],
                 ["validate", "gpu", "--profiles", str(tmp_path), "--fit", "--out", str(tmp_path / "o.toml")]):
        result = RUNNER.invoke(app, args)
        assert result.exit_code != 0
        message = str(result.exception)
        assert "bad_mlp.csv" in message and all(part in message for part in expected), message


def _ring_profile(latency_s: float, efficiency: float):
    """An all-reduce profile whose within-node points above 1 MiB follow the ring model with these parameters
    (t = latency + 2 (n - 1) / n x size / (NVLink per direction x efficiency)), plus points the fit must leave
    out, each 10x off the model: one worker, two nodes (workers != devices per node), 1 MiB and below."""
    import pandas as pd

    per_direction = A100.nvlink_bw_bytes_per_s / 2

    def ring(size, workers):
        return latency_s + 2 * (workers - 1) / workers * size / (per_direction * efficiency)

    rows = [{"num_workers": n, "devices_per_node": n, "size_bytes": size, "median_s": ring(size, n)}
            for n in (2, 4, 8) for size in (2**21, 2**24, 2**27)]
    rows += [{"num_workers": 1, "devices_per_node": 1, "size_bytes": 2**24, "median_s": 10 * ring(2**24, 2)},
             {"num_workers": 16, "devices_per_node": 8, "size_bytes": 2**24, "median_s": 10 * ring(2**24, 16)},
             {"num_workers": 8, "devices_per_node": 8, "size_bytes": 2**20, "median_s": 10 * ring(2**20, 8)},
             {"num_workers": 8, "devices_per_node": 8, "size_bytes": 2**10, "median_s": 10 * ring(2**10, 8)}]
    return pd.DataFrame(rows)


def test_all_reduce_fit_recovers_the_ring_parameters():
    from l3sim.hw.gpu.fit import fit_all_reduce

    table = _ring_profile(12e-6, 0.65)
    latency, efficiency = fit_all_reduce(table, A100)
    assert latency == pytest.approx(12e-6, rel=1e-4)
    assert efficiency == pytest.approx(0.65, rel=1e-4)
    # two GPUs are a ring too: their points alone give the same answer
    latency, efficiency = fit_all_reduce(table[table["num_workers"] <= 2], A100)
    assert (latency, efficiency) == (pytest.approx(12e-6, rel=1e-4), pytest.approx(0.65, rel=1e-4))


def test_all_reduce_fit_stays_within_its_bounds():
    """A ring cannot beat its links (efficiency <= 1) and the fit caps the latency at 1 ms: profiles made with
    efficiency 1.3, or with a 5 ms latency, fit at those bounds."""
    from l3sim.hw.gpu.fit import fit_all_reduce

    assert fit_all_reduce(_ring_profile(12e-6, 1.3), A100)[1] == pytest.approx(1.0)
    assert fit_all_reduce(_ring_profile(5e-3, 0.65), A100)[0] == pytest.approx(1e-3)


def test_all_reduce_fit_needs_within_node_points_above_1_mib():
    from l3sim.hw.gpu.fit import fit_all_reduce

    table = _ring_profile(12e-6, 0.65)
    message = "^the all-reduce profile has no within-node points with more than one GPU above 1 MiB$"
    with pytest.raises(ConfigError, match=message):
        fit_all_reduce(table[table["size_bytes"] <= 2**20], A100)
