"""Executors: every backend returns each run's outcome exactly once; failures become data; bad settings fail early."""

from __future__ import annotations

import os
import socket

import expt_run_fns as fns
import pytest

from l3sim.errors import ConfigError
from l3sim.experiments.executor import make_executor, probe_address, run_one

SPECS = [
    {"seed": s, "serving": {"max_batch_tokens": 1024 * (s + 1)}, "model": {"num_layers": 8 * s + 8}} for s in range(6)
]


def expected(spec):
    return fns.expected_score(spec["seed"], spec["serving"]["max_batch_tokens"], spec["model"]["num_layers"])


@pytest.mark.parametrize("backend", ["serial", "joblib"])
def test_each_spec_once_with_its_own_result(backend):
    with make_executor(backend, jobs=2) as executor:
        got = list(executor.map(fns.linear_metrics, SPECS))
    assert sorted(index for index, _ in got) == list(range(len(SPECS)))
    for index, outcome in got:
        assert outcome.status == "ok"
        assert outcome.metrics["score"] == expected(SPECS[index])
        assert outcome.elapsed_s >= 0


def test_joblib_runs_in_other_processes():
    with make_executor("joblib", jobs=2) as executor:
        pids = {outcome.metrics["pid"] for _, outcome in executor.map(fns.worker_pid, SPECS)}
    assert os.getpid() not in pids


def test_empty_list_yields_nothing():
    with make_executor("joblib") as executor:
        assert list(executor.map(fns.linear_metrics, [])) == []


def test_l3sim_error_is_a_verdict_and_other_exceptions_are_crashes():
    verdict = run_one(fns.odd_seed_does_not_fit, SPECS[1])
    assert verdict.status == "error" and verdict.error.startswith("CapacityError: seed 1 does not fit")
    assert verdict.metrics == {}
    crash = run_one(fns.crash_on_seed_one, SPECS[1])
    assert crash.status == "crashed" and "RuntimeError: boom" in crash.error
    assert run_one(fns.crash_on_seed_one, SPECS[0]).status == "ok"


def test_keyboard_interrupt_is_not_swallowed():
    def interrupted(spec):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_one(interrupted, {})


@pytest.mark.parametrize(
    "backend, kwargs, pattern",
    [
        ("dask", {}, "'dask'.*serial, joblib, ray"),
        ("joblib", {"address": "h:1"}, "address is for the ray backend"),
        ("joblib", {"jobs": 0}, "jobs"),
    ],
)
def test_bad_executor_settings(backend, kwargs, pattern):
    with pytest.raises(ConfigError, match=pattern):
        make_executor(backend, **kwargs)


def _closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_probe_of_unreachable_address_is_a_config_error():
    with pytest.raises(ConfigError, match="cannot be reached"):
        probe_address(f"127.0.0.1:{_closed_port()}", timeout_s=1.0)
    with pytest.raises(ConfigError, match="HOST:PORT"):
        probe_address("no-port-here")


def test_probe_of_listening_address_passes():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        probe_address(f"127.0.0.1:{server.getsockname()[1]}", timeout_s=1.0)
