"""Speed of the GPU cost model: fc_time_s over 10k points, a scalar call, prefill attention over 10k chunks."""

from __future__ import annotations

import numpy as np

from l3sim.hw.gpu import GPUCostModel
from l3sim.spec.run import build_run_spec

COST = GPUCostModel(build_run_spec(platform="dgx-a100", model="gpt-175b", workload="openr1"))
RNG = np.random.default_rng(0)
TOKENS = RNG.integers(0, 8193, size=10_000)
LOGITS = RNG.integers(0, 257, size=10_000)


def test_fc_time_10k_points(benchmark):
    result = benchmark(COST.fc_time_s, TOKENS, LOGITS)
    assert result.shape == TOKENS.shape


def test_fc_time_scalar(benchmark):
    assert benchmark(COST.fc_time_s, 4096, 256) > 0


def test_prefill_attention_10k_points(benchmark):
    result = benchmark(COST.prefill_attention_time_s, TOKENS, LOGITS * 64)
    assert result.shape == TOKENS.shape
