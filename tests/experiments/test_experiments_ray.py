"""The Ray backend: a smoke test on a local Ray started by the test, and an unreachable address."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import expt_run_fns as fns
import pandas as pd
import pytest

from l3sim.errors import ConfigError
from l3sim.experiments.runner import run_sweep
from l3sim.experiments.sweep import parse_sweep

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.ray

HERE = Path(__file__).resolve().parent
SWEEP = {
    "base": {"platform": "dgx-a100", "model": "llama-2-7b", "workload": "openr1", "requests": 10},
    "grid": {"seed": [0, 1, 2], "serving.max_batch_tokens": [1024, 2048]},
}


@pytest.mark.slow
def test_local_ray_matches_serial(tmp_path, monkeypatch):
    # Ray's workers import the run function by module name: let them find the test helpers
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))
    sweep = parse_sweep(SWEEP)
    report = run_sweep(sweep, tmp_path / "ray", backend="ray", jobs=2, run_fn=fns.linear_metrics, progress=False)
    assert not ray.is_initialized()  # the executor started a local Ray and stopped it
    serial = run_sweep(sweep, tmp_path / "serial", backend="serial", run_fn=fns.linear_metrics, progress=False)
    assert report.ran == 6
    pd.testing.assert_frame_equal(
        report.results.drop(columns=["elapsed_s"]), serial.results.drop(columns=["elapsed_s"])
    )


def test_unreachable_address_is_a_config_error_and_writes_nothing(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # released on exit: nothing listens there
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match=f"127.0.0.1:{port}.*cannot be reached"):
        run_sweep(parse_sweep(SWEEP), out, backend="ray", address=f"127.0.0.1:{port}", run_fn=fns.linear_metrics)
    assert not out.exists()
    assert not ray.is_initialized()


def test_auto_without_a_cluster_is_a_config_error(tmp_path, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    with pytest.raises(ConfigError, match="'auto'.*cannot connect"):
        run_sweep(parse_sweep(SWEEP), tmp_path / "out", backend="ray", address="auto", run_fn=fns.linear_metrics)
    assert not (tmp_path / "out").exists()
