"""Speed of the functional emulation: one SmolLM2-135M decode step with PIM attention at 2K context.

Target (issue 4): under 1 s per step. Run: .venv/bin/pytest benchmarks/bench_functional.py --benchmark-enable
"""

from __future__ import annotations

import numpy as np
import pytest

from l3sim.errors import MissingDependencyError
from l3sim.functional import gguf_weights
from l3sim.functional.arithmetic import ARITHMETIC_OPTIONS
from l3sim.functional.backends import PIMAttention
from l3sim.functional.llama import forward_token
from l3sim.functional.placement import KVCacheStore
from l3sim.functional.verify import SMOLLM2_LAYOUT

CONTEXT_TOKENS = 2048


@pytest.fixture(scope="module")
def decode_setup():
    try:
        weights = gguf_weights.load_llama_gguf(gguf_weights.smollm2_gguf_path())
    except MissingDependencyError as exc:
        pytest.skip(str(exc))
    cfg = weights.config
    store = KVCacheStore(SMOLLM2_LAYOUT, cfg.num_layers, cfg.num_kv_heads, cfg.head_dim, CONTEXT_TOKENS + 64)
    rng = np.random.default_rng(0)
    shape = (cfg.num_layers, cfg.num_kv_heads, CONTEXT_TOKENS, cfg.head_dim)
    store.append(rng.standard_normal(shape), rng.standard_normal(shape))  # a 2K-token cache, written bulk
    return weights, store


def test_decode_step_at_2k_context(benchmark, decode_setup):
    weights, store = decode_setup
    backend = PIMAttention(store, ARITHMETIC_OPTIONS["fp16-fp32acc"])
    backend.reference.length[:] = 0  # the error tracker sees only the new token; timing is what matters here

    def step():
        logits = forward_token(weights, 42, store.tokens, backend)
        store.layer_tokens -= 1  # undo the append so every round runs at the same context length
        return logits

    logits = benchmark.pedantic(step, rounds=5, iterations=1, warmup_rounds=1)
    assert logits.shape == (weights.config.vocab_size,) and np.all(np.isfinite(logits))
