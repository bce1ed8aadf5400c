"""Interrupt a sweep in a subprocess (kill -9, Ctrl-C), resume it, and compare with an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import expt_run_fns as fns
import pandas as pd
import pytest

from l3sim.experiments.runner import run_sweep
from l3sim.experiments.sweep import parse_sweep

HERE = Path(__file__).resolve().parent
SWEEP = {
    "base": {"platform": "dgx-a100", "model": "llama-2-7b", "workload": "openr1", "requests": 10},
    "grid": {"seed": {"start": 0, "stop": 3}, "serving.max_batch_tokens": [1024, 2048, 4096, 8192]},
}
TOTAL = 16
# The child restores Python's Ctrl-C handler: a shell starts background jobs with SIGINT ignored, and an
# ignored disposition is inherited, so a suite run in the background would otherwise send a Ctrl-C the
# sweep never sees (it then finished all 16 points; in a terminal, Ctrl-C is never ignored).
CHILD = """
import json, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
import expt_run_fns as fns
from l3sim.experiments.runner import run_sweep
from l3sim.experiments.sweep import parse_sweep
run_sweep(parse_sweep(json.loads(sys.argv[1])), sys.argv[2], backend="joblib", jobs=2,
          run_fn=fns.slow_metrics, progress=False)
"""


def _stored(out: Path) -> list[Path]:
    parts = out / "store" / "parts"
    return [p for p in parts.glob("*.parquet") if not p.name.startswith(".tmp-")] if parts.is_dir() else []


def _interrupt_midway(out: Path, sig: int) -> int:
    """Start the sweep in a subprocess, send ``sig`` once a few points are stored; return how many were."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
           "L3SIM_TEST_SLEEP_S": "1.0"}
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, json.dumps(SWEEP), str(out)], env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while len(_stored(out)) < 4:
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "the sweep stored nothing in 60 s"
            time.sleep(0.02)
        proc.send_signal(sig)
        proc.wait(timeout=30)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the session this test started: orphaned workers, if any
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)
    return len(_stored(out))


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["kill-9", "ctrl-c"])
def test_interrupted_sweep_resumes_to_the_uninterrupted_result(tmp_path, sig):
    sweep = parse_sweep(SWEEP)
    stored_at_kill = _interrupt_midway(tmp_path / "resumed", sig)
    assert 4 <= stored_at_kill < TOTAL
    assert not (tmp_path / "resumed" / "results.parquet").exists()

    resumed = run_sweep(sweep, tmp_path / "resumed", backend="joblib", jobs=2, run_fn=fns.slow_metrics, progress=False)
    assert resumed.reused >= stored_at_kill and resumed.reused + resumed.ran == TOTAL
    run_sweep(sweep, tmp_path / "whole", backend="joblib", jobs=2, run_fn=fns.slow_metrics, progress=False)

    a = pd.read_parquet(tmp_path / "resumed" / "results.parquet").drop(columns=["elapsed_s"])
    b = pd.read_parquet(tmp_path / "whole" / "results.parquet").drop(columns=["elapsed_s"])
    pd.testing.assert_frame_equal(a, b)
    assert len(_stored(tmp_path / "resumed")) == TOTAL
    assert not list((tmp_path / "resumed" / "store" / "parts").glob(".tmp-*"))
    assert resumed.results["hash"].is_unique
