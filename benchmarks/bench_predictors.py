"""Speed of the L3 scheduler's predictors: training (samples from the cost model + fit) and prediction.

Run: .venv/bin/pytest benchmarks/bench_predictors.py --benchmark-enable
The figures go into docs/performance.md ("L3 scheduler").
"""

from __future__ import annotations

import numpy as np
import pytest

from l3sim.cache import CACHE_ENV
from l3sim.serving.predictors import GPUTimePredictor, SamplingRanges, draw_samples, gpu_features, train
from l3sim.serving.systems import build_system
from l3sim.spec.run import build_run_spec


@pytest.fixture(scope="module")
def gpt_system():
    spec = build_run_spec(platform="dgx-a100", model="gpt-175b", workload="openr1", system="l3")
    system = build_system(spec)
    return system, SamplingRanges.for_run(spec, system.kv_capacity_bytes / system.kv_bytes_per_token)


@pytest.mark.parametrize("fit_cache", ["off", "warm"])
def test_train_both_predictors_1000_samples(benchmark, gpt_system, monkeypatch, fit_cache):
    """1,000 samples timed by the l3 system, then the 20-tree forest and the linear model fitted (``off``: the
    fit cache turned off) or loaded from the fit cache (``warm``: the same fits made once beforehand)."""
    system, ranges = gpt_system
    if fit_cache == "off":
        monkeypatch.setenv(CACHE_ENV, "off")
    else:
        train(system, ranges, 1000, 0)
    gpu, pim = benchmark.pedantic(train, args=(system, ranges, 1000, 0), rounds=3, iterations=1)
    assert gpu.refits == 0 and pim.refits == 0


def test_draw_1000_training_samples(benchmark, gpt_system):
    """The samples alone (the part of training a warm fit cache does not save)."""
    system, ranges = gpt_system
    samples = benchmark.pedantic(draw_samples, args=(system, ranges, 1000, np.random.default_rng(0)), rounds=3,
                                 iterations=1)
    assert samples.gpu_X.shape[0] == 1000


def test_gpu_forest_one_row_prediction(benchmark, gpt_system):
    """One T_GPU question (the scheduler's commonest call): features + compiled forest walk."""
    system, ranges = gpt_system
    data = draw_samples(system, ranges, 1000, np.random.default_rng(0))
    gpu = GPUTimePredictor(seed=0).fit(data.gpu_X, data.gpu_y)
    gpu.predict_rows(gpu_features([64], [0], 10))  # compile / load the walk outside the timing
    seconds = benchmark(lambda: gpu.predict_rows(gpu_features([64, 16], [0, 32], 10)))
    assert seconds.shape == (1,) and seconds[0] > 0


def test_gpu_forest_32_candidate_rows(benchmark, gpt_system):
    """A prefill cut's 32 candidate rows in one call."""
    system, ranges = gpt_system
    data = draw_samples(system, ranges, 1000, np.random.default_rng(0))
    gpu = GPUTimePredictor(seed=0).fit(data.gpu_X, data.gpu_y)
    rows = data.gpu_X[:32]
    gpu.predict_rows(rows)
    assert benchmark(gpu.predict_rows, rows).shape == (32,)
