"""Disaggregated roofline: bounds, capacity limits and pooled roofs from the paper's numbers, and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from l3sim.cli import app
from l3sim.errors import ConfigError
from l3sim.hw.roofline import roofline
from l3sim.serving.systems import roofline_devices
from l3sim.spec.run import build_run_spec

RUNNER = CliRunner()
# GPT-175B: K and V x 96 layers x 96 heads x 128 x 2 bytes (Brown et al. 2020 dimensions).
GPT175B_KV_PER_TOKEN = 2 * 96 * 96 * 128 * 2
HOST_BYTES = 64 * 8 * 4 * 2**30  # the paper's host: 64 ranks x 8 chips x 32 Gb


@pytest.fixture(scope="module")
def spec():
    return build_run_spec(platform="dgx-a100", model="gpt-175b", workload="openr1")


@settings(max_examples=12, deadline=None)
@given(context=st.integers(64, 200_000))
def test_throughput_never_above_either_roof(spec, context):
    curves = roofline(spec, context, roofline_devices())
    for roof in curves.devices:
        att, combined = curves.device_curves(roof)
        ok = np.isfinite(combined)
        assert np.all(combined[ok] <= curves.fc_tok_s[ok] * (1 + 1e-12))
        assert np.all(combined[ok] <= att[ok] * (1 + 1e-12))
        summary = curves.summary(roof)
        assert summary["operating_batch"] <= summary["max_batch"]


@pytest.mark.parametrize("context", [1000, 12_684, 100_000])
def test_capacity_limit_from_kv_bytes(spec, context):
    curves = roofline(spec, context, roofline_devices(["l3", "cpu", "hbm-pim-ext"]))
    limits = {roof.name: curves.summary(roof)["max_batch"] for roof in curves.devices}
    assert limits["l3"] == HOST_BYTES // (GPT175B_KV_PER_TOKEN * context)
    assert limits["cpu"] == HOST_BYTES // (GPT175B_KV_PER_TOKEN * context)
    assert limits["hbm-pim-ext"] == int(320e9 // (GPT175B_KV_PER_TOKEN * context))  # paper: 320 GB
    for roof in curves.devices:  # nothing is plotted as reachable beyond the limit
        _, combined = curves.device_curves(roof)
        assert np.all(np.isnan(combined[curves.batches > limits[roof.name]]))


@pytest.mark.parametrize("device, bw_bytes_per_s", [("hbm-pim-ext", 130.4e12), ("cpu", 409.6e9)])
def test_pooled_attention_roof_is_bandwidth_over_kv_bytes(spec, device, bw_bytes_per_s):
    """The paper's baselines table: 130.4 TB/s for HBM-PIM-EXT, 16 x 25.6 GB/s for the CPU."""
    context = 8192
    curves = roofline(spec, context, roofline_devices([device]))
    summary = curves.summary(curves.devices[0])
    assert summary["attention_roof_tok_s"] == pytest.approx(bw_bytes_per_s / (GPT175B_KV_PER_TOKEN * context))


def test_gpu_only_is_serial_and_dimm_pim_rises_until_every_slot_works(spec):
    curves = roofline(spec, 4096, roofline_devices(["gpu-hbm", "l3"]))
    gpu, l3 = curves.devices
    att, combined = curves.device_curves(gpu)
    ok = np.isfinite(combined)
    assert np.all(combined[ok] < np.minimum(curves.fc_tok_s, att)[ok])
    l3_att, _ = curves.device_curves(l3)
    b = curves.batches
    assert l3.slots >= 1
    idle = b <= l3.slots
    assert np.allclose(l3_att[idle] / b[idle], l3_att[0])  # linear while some slot has no request
    assert np.allclose(l3_att[b >= l3.slots][:: l3.slots], l3_att[l3.slots - 1])  # flat at whole slot rounds


def test_bad_context_and_device_are_errors(spec):
    with pytest.raises(ConfigError, match="context"):
        roofline(spec, 0, roofline_devices())
    with pytest.raises(ConfigError, match="unknown attention device"):
        roofline(spec, 100, roofline_devices(["tpu"]))


def test_cli_json_out_and_run_point(tmp_path):
    run_file = tmp_path / "result.json"
    run_file.write_text(json.dumps({"system": "l3", "avg_batch_size": 40.0, "throughput_tok_s": 300.0}))
    out = tmp_path / "out"
    result = RUNNER.invoke(app, ["roofline", "--context", "8000", "--device", "l3", "--device", "gpu-hbm",
                                 "--run", str(run_file), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [d["device"] for d in data["devices"]] == ["l3", "gpu-hbm"]
    assert data["run"] == {"system": "l3", "avg_batch_size": 40.0, "throughput_tok_s": 300.0}
    assert data["kv_bytes_per_request"] == GPT175B_KV_PER_TOKEN * 8000
    assert (out / "roofline.png").stat().st_size > 0
    header = (out / "roofline.csv").read_text().splitlines()[0]
    assert header == "device,batch,fc_tok_s,attention_tok_s,throughput_tok_s"


def test_cli_run_file_errors_name_the_field(tmp_path):
    run_file = tmp_path / "result.json"
    run_file.write_text(json.dumps({"avg_batch_size": 4.0, "throughput_tok_s": None}))
    result = RUNNER.invoke(app, ["roofline", "--context", "100", "--run", str(run_file)])
    assert result.exit_code != 0
    assert "throughput_tok_s" in str(result.exception)
    run_file.write_text("{not json")
    result = RUNNER.invoke(app, ["roofline", "--context", "100", "--run", str(run_file)])
    assert "invalid JSON at line 1" in str(result.exception)
