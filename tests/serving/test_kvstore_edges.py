"""KVStore at its edges, by hand: sizing from bytes (no capacity), the 'full' reservation at a
block boundary, and the capacity bound when the last iteration fills the cache exactly.

Written against the mutants mutmut left alive in kvstore.py (docs/testing.md).
"""

from __future__ import annotations

import numpy as np
import pytest

from l3sim.serving.kvstore import KVStore


def test_from_bytes_defaults_to_prompt_reservation():
    assert KVStore.from_bytes(1600.0, 10, 16, 0.0).reservation == "prompt"


@pytest.mark.parametrize("capacity_bytes", [0.0, -50.0])
def test_no_capacity_is_no_blocks(capacity_bytes):
    """A system with no room for KV (or less than none: weights over memory) has 0 blocks, even of 1 token."""
    kv = KVStore.from_bytes(capacity_bytes, 10, 1, 0.0)
    assert (kv.capacity_blocks, kv.capacity_tokens) == (0, 0)


def test_full_reservation_holds_every_token_but_the_last():
    """A request of prompt p and n outputs stores at most p + n - 1 tokens: 10 + 7 - 1 = 16 fills one block of 16,
    10 + 8 - 1 = 17 needs two."""
    kv = KVStore(capacity_blocks=10, block_tokens=16, watermark_blocks=0, reservation="full")
    assert kv.admission_blocks(10, 10, 7) == 1
    assert kv.admission_blocks(10, 10, 8) == 2


def test_a_stretch_that_ends_exactly_full_runs_to_its_limit():
    """One request storing 4 tokens with 3 blocks of 4 reserved, 4 blocks in all: iteration j stores 5 + j, so
    iterations 0..8 end at 13 tokens in 4 blocks, all the blocks there are: all 9 fit, answered without a search.
    A stretch of 13 would end at 17 tokens (5 blocks) and outgrow the reservation part-way: the caller searches."""
    kv = KVStore(capacity_blocks=4, block_tokens=4, watermark_blocks=0)
    assert kv.iterations_that_fit(0, np.array([3]), np.array([4]), 9) == 9
    assert kv.iterations_that_fit(0, np.array([3]), np.array([4]), 13) is None
