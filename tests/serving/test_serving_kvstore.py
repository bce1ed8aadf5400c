"""KV block arithmetic: the closed-form capacity boundary against brute force."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from l3sim.serving.kvstore import KVStore


def _brute_force(kv: KVStore, static: int, reserved: np.ndarray, stored: np.ndarray, limit: int) -> int:
    k = 0
    while k < limit:
        held = np.maximum(reserved, -(-(stored + k + 1) // kv.block_tokens)).sum()
        if static + held > kv.capacity_blocks:
            break
        k += 1
    return k


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 32),
    st.lists(st.tuples(st.integers(1, 400), st.booleans()), min_size=1, max_size=12),
    st.integers(0, 50),
    st.integers(1, 300),
    st.integers(0, 200),
)
def test_iterations_that_fit_matches_brute_force(block, reqs, static, limit, slack) -> None:
    stored = np.array([s for s, _ in reqs])
    # a request either reserved its whole life up front or only what it stores now
    reserved = np.array([-(-(s + (limit if full else 0)) // block) for s, full in reqs])
    need0 = static + np.maximum(reserved, -(-(stored + 1) // block)).sum()
    kv = KVStore(int(need0) + slack, block, 0)
    assert kv.iterations_that_fit(static, reserved, stored, limit) == _brute_force(kv, static, reserved, stored, limit)


def test_never_fits_uses_peak_tokens_and_watermark() -> None:
    kv = KVStore(capacity_blocks=100, block_tokens=10, watermark_blocks=5)
    # peak stored tokens = prompt + output - 1; 95 blocks = 950 tokens are admissible
    assert not kv.never_fits(np.array([500]), np.array([451]))[0]
    assert kv.never_fits(np.array([500]), np.array([452]))[0]
