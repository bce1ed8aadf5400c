"""Speed of the serving simulator on the issue's two reference runs (targets: 5 s and 10 s on 2 cores).

Run: .venv/bin/pytest benchmarks/bench_serving.py --benchmark-enable
Each benchmark times ``simulate`` end to end (requests drawn or read, every
replica served, metrics summarised); the figures go into docs/performance.md.
The L3-scheduler runs are timed with the libraries their predictors need
already imported (scikit-learn, the numba forest walk: about 1.4 s once per
process, ``warm_predictor_libraries``); ``test_l3_gpt175b_openr1_1000_fresh_process``
times the same run as a user's command pays it, interpreter start included.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from l3sim.cache import CACHE_ENV
from l3sim.serving import simulate
from l3sim.spec.run import build_run_spec

AZURE_CONV = Path(__file__).resolve().parents[2] / "shared" / "traces" / "AzureLLMInferenceTrace_conv.csv"


def test_gpu_only_gpt175b_openr1_1000_offline(benchmark):
    """GPU-only GPT-175B (TP8) on a DGX-A100, 1,000 OpenR1 requests, offline (target <= 5 s)."""
    spec = build_run_spec(platform="dgx-a100", model="gpt-175b", workload="openr1", requests=1000)
    result = benchmark.pedantic(simulate, args=(spec,), rounds=3, iterations=1)
    assert result.requests_served == 1000 and result.output_tokens > 10_000_000


def test_gpu_only_llama2_70b_azure_conv_trace(benchmark):
    """Azure conversation trace, all 19,366 requests at trace times, Llama-2-70B TP4 DP2 (target <= 10 s)."""
    from l3sim.workload import workload_from_trace_path

    if not AZURE_CONV.is_file():
        pytest.skip("../shared/traces is absent")
    workload = workload_from_trace_path(AZURE_CONV)
    spec = build_run_spec(
        platform="dgx-a100",
        model="llama-2-70b",
        workload=workload,
        requests=None,
        arrival="trace",
        parallel={"tp": 4, "dp": 2},
    )
    result = benchmark.pedantic(simulate, args=(spec,), rounds=3, iterations=1)
    assert result.requests_served == 19366


@pytest.mark.parametrize("stepping", ["closed-form", "per-iteration"])
def test_closed_form_speedup_100_openr1(benchmark, stepping):
    """The closed-form advance against stepping every iteration (100 OpenR1 requests, GPT-175B)."""
    spec = build_run_spec(
        [f'serving.stepping="{stepping}"'], platform="dgx-a100", model="gpt-175b", workload="openr1", requests=100
    )
    result = benchmark.pedantic(simulate, args=(spec,), rounds=1, iterations=1)
    assert result.requests_served + len(result.never_fit_ids) == 100


@pytest.fixture
def warm_predictor_libraries():
    """Import scikit-learn and load the compiled forest walk: one-off costs of a process, not of a run."""
    import sklearn.ensemble  # noqa: F401
    import sklearn.linear_model  # noqa: F401

    import numpy as np

    from l3sim.serving.predictors.forest import _compiled_walk

    # one call on a one-leaf forest loads the compiled walk for its argument types
    _compiled_walk()(np.zeros((1, 1)), np.zeros(1, np.int64), np.full((1, 4), -1.0), np.zeros(1), np.empty(1))


def test_l3_gpt175b_openr1_1000_offline(benchmark, warm_predictor_libraries):
    """L3 (its default scheduler) GPT-175B (TP8), 1,000 OpenR1 requests, offline (target <= 5 s)."""
    spec = build_run_spec(platform="dgx-a100", model="gpt-175b", workload="openr1", system="l3", requests=1000)
    result = benchmark.pedantic(simulate, args=(spec,), rounds=1, iterations=1)
    assert result.requests_served == 1000


def test_l3_capacity_first_gpt175b_openr1_1000_offline(benchmark):
    """The same with the capacity-first scheduler: the systems' own cost (no predictor training)."""
    spec = build_run_spec(
        platform="dgx-a100", model="gpt-175b", workload="openr1", system="l3", scheduler="capacity-first",
        requests=1000,
    )
    result = benchmark.pedantic(simulate, args=(spec,), rounds=1, iterations=1)
    assert result.requests_served == 1000


def test_six_system_comparison_gpt175b_openr1_1000(benchmark):
    """``l3sim compare`` of the six systems, 1,000 OpenR1 requests (target <= 30 s)."""
    from l3sim.serving.compare import compare

    specs = [
        build_run_spec(platform="dgx-a100", model="gpt-175b", workload="openr1", system=name, requests=1000)
        for name in ("gpu-only", "hbm-pim", "hbm-pim-ext", "cpu-offload", "r-pim", "l3")
    ]
    results = benchmark.pedantic(compare, args=(specs,), rounds=1, iterations=1)
    assert all(r.requests_served == 1000 for r in results)


@pytest.mark.parametrize("fit_cache", ["cold", "warm"])
def test_l3_gpt175b_openr1_1000_fresh_process(benchmark, tmp_path, fit_cache):
    """The same run as ``l3sim run --system l3 --requests 1000 --json`` pays it: a new interpreter, every import.
    ``cold``: an empty fit cache (the predictors are trained, scikit-learn imported); ``warm``: the fits of an
    earlier identical run on disk (target: at most 2 s)."""
    command = [sys.executable, "-m", "l3sim", "run", "--system", "l3", "--model", "gpt-175b", "--workload", "openr1",
               "--requests", "1000", "--json"]
    env = {**os.environ, CACHE_ENV: str(tmp_path / "cache")}
    if fit_cache == "warm":
        subprocess.run(command, check=True, capture_output=True, env=env)

    def run_command() -> float:
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, env=env)
        return time.perf_counter() - start

    def empty_cache() -> tuple[tuple, dict]:
        if fit_cache == "cold":
            shutil.rmtree(tmp_path / "cache", ignore_errors=True)
        return (), {}

    assert benchmark.pedantic(run_command, setup=empty_cache, rounds=2, iterations=1) > 0


def test_l3_gpt175b_openr1_1000_full_reservation(benchmark, warm_predictor_libraries):
    """L3 with its scheduler under full KV reservation (no pre-emptions: far fewer decisions)."""
    spec = build_run_spec(['serving.kv_reservation="full"'], platform="dgx-a100", model="gpt-175b",
                          workload="openr1", system="l3", requests=1000)
    result = benchmark.pedantic(simulate, args=(spec,), rounds=1, iterations=1)
    assert result.requests_served == 1000


@pytest.mark.parametrize("with_account", [True, False], ids=["account", "no-account"])
def test_l3_gpt175b_openr1_1000_account_overhead(benchmark, warm_predictor_libraries, with_account):
    """The bound-and-loss account's cost (target: at most 10 % of the run): the L3 run with the system's
    account terms and the post-run account, and the same system with them switched off (no nominal GPU)."""
    from l3sim.serving import serve
    from l3sim.serving.systems import build_system
    from l3sim.workload import load_requests

    spec = build_run_spec(platform="dgx-a100", model="gpt-175b", workload="openr1", system="l3", requests=1000)
    requests = load_requests(spec.workload, spec.requests, spec.seed, spec.arrival)

    def run():
        system = build_system(spec)
        if not with_account:
            system.nominal_gpu = None
        return serve(system, requests, spec)

    result = benchmark.pedantic(run, rounds=3, iterations=1)
    assert result.requests_served == 1000 and bool(result.losses_s) == with_account
