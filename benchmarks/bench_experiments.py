"""Speed of the sweep machinery itself (no simulator): point expansion, the store, and executor overhead.

Run: .venv/bin/pytest benchmarks/bench_experiments.py --benchmark-enable
"""

from __future__ import annotations

import itertools

import pytest

from l3sim.experiments.executor import make_executor
from l3sim.experiments.store import ResultStore
from l3sim.experiments.sweep import parse_sweep

BASE = {"platform": "dgx-a100", "model": "llama-2-7b", "workload": "openr1", "requests": 10}
METRICS = {"throughput_tok_s": 1234.5, "makespan_s": 10.0, "ttft_s": {"p50": 0.1, "p99": 0.5}, "avg_batch_size": 64.0}
_keys = itertools.count()


def constant_metrics(spec):
    """A run function that costs nothing: what is left is the executor's overhead."""
    return METRICS


def test_expand_1000_points(benchmark):
    """Validating a 1000-point grid (every point built as a RunSpec)."""
    grid = {"seed": {"start": 0, "stop": 99}, "gpu.mem_util": {"start": 0.5, "stop": 0.95, "step": 0.05}}
    sweep = parse_sweep({"base": BASE, "grid": grid})
    points = benchmark(sweep.points, "fn")
    assert len(points) == 1000


def test_store_put_one_point(benchmark, tmp_path):
    """One atomic part write (Parquet, fsync, rename)."""
    store = ResultStore(tmp_path)
    benchmark(lambda: store.put(f"k{next(_keys)}", BASE, METRICS, status="ok", elapsed_s=1.0))


def test_store_read_1000_points(benchmark, tmp_path):
    """Reading back a store of 1000 parts."""
    store = ResultStore(tmp_path)
    for index in range(1000):
        store.put(f"k{index:04d}", BASE, METRICS, status="ok", elapsed_s=1.0)
    table = benchmark.pedantic(store.read, rounds=3, iterations=1)
    assert len(table) == 1000


@pytest.mark.parametrize("backend", ["serial", "joblib"])
def test_executor_overhead_200_points(benchmark, backend):
    """200 zero-cost runs through one executor (joblib: 2 worker processes)."""
    specs = [{"seed": s} for s in range(200)]

    def run():
        with make_executor(backend, jobs=2) as executor:
            return list(executor.map(constant_metrics, specs))

    assert len(benchmark.pedantic(run, rounds=3, iterations=1)) == 200
