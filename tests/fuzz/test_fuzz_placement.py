"""Least-loaded placement of the disaggregated systems: the fast version makes the scan's choices.

The reference below is the definition (each request onto the least-loaded slot, first of equals, whose
load then grows by fixed + per_token x context); ``slot_placement.place``, interpreted and compiled, must
give the same slots and the same final loads, bit for bit, so that runs stay deterministic and unchanged.
"""

from __future__ import annotations

import numpy as np
import pytest
from fuzz_profile import FUZZ
from hypothesis import given
from hypothesis import strategies as st

from l3sim.serving import warm_jit
from l3sim.serving.systems import slot_placement


def scan(loads: list[float], contexts: list[float], fixed: float, per_token: float) -> list[int]:
    slots = []
    for context in contexts:
        slot = loads.index(min(loads))
        slots.append(slot)
        loads[slot] += fixed + per_token * context
    return slots


LOADS = st.lists(st.sampled_from([0.0, 0.5, 1.0, 2.5]) | st.floats(0, 10), min_size=1, max_size=40)
CONTEXTS = st.lists(st.integers(0, 5000).map(float), max_size=60)


@pytest.mark.parametrize("compiled", [False, True], ids=["interpreted", "compiled"])
@FUZZ
@given(loads=LOADS, contexts=CONTEXTS, fixed=st.sampled_from([0.0, 1e-3, 0.25]), per_token=st.sampled_from([0.0, 1e-6]))
def test_fast_placement_equals_the_scan(compiled, loads, contexts, fixed, per_token) -> None:
    expected_loads = list(loads)
    expected = scan(expected_loads, contexts, fixed, per_token)
    got_loads = np.array(loads, dtype=np.float64)
    assert slot_placement.place(got_loads, contexts, fixed, per_token, compiled=compiled).tolist() == expected
    assert got_loads.tolist() == expected_loads


def _interpreted_then_compiled_only(monkeypatch, seed: int, slots: int, requests: int):
    """Random loads over ``slots`` (ties included: a few load values) and contexts of ``requests``, with the
    interpreted placement's (slots, loads); then the interpreted function is replaced by one that fails, so
    that a later ``place`` passes only if it runs compiled."""
    rng = np.random.default_rng(seed)
    loads = rng.choice([0.0, 1e-3, 2e-3], size=slots)
    contexts = rng.integers(1, 40_000, size=requests).astype(np.float64)
    interpreted = loads.copy()
    expected = slot_placement.place(interpreted, contexts, 1e-4, 3e-8, compiled=False)
    slot_placement._compiled()  # compiled from the real function before it is replaced below

    def not_interpreted(*args):
        raise AssertionError("interpreted placement")

    monkeypatch.setattr(slot_placement, "least_loaded_slots", not_interpreted)
    return loads, contexts, expected, interpreted


def test_large_batches_run_compiled_and_agree_with_the_interpreted_placement(monkeypatch) -> None:
    """A batch of COMPILED_FROM requests takes the compiled path by default, one fewer the interpreted one
    (while nothing has run compiled in the process); both give the same slots and loads on 64 slots."""
    monkeypatch.setattr(warm_jit, "_loaded", set())
    loads, contexts, expected, interpreted = _interpreted_then_compiled_only(monkeypatch, 7, 64,
                                                                             slot_placement.COMPILED_FROM)
    by_default = loads.copy()
    assert np.array_equal(slot_placement.place(by_default, contexts, 1e-4, 3e-8), expected)
    assert np.array_equal(by_default, interpreted)
    with pytest.raises(AssertionError, match="interpreted placement"):
        slot_placement.place(loads.copy(), contexts[:-1], 1e-4, 3e-8)


def test_small_batches_run_compiled_once_something_has(monkeypatch) -> None:
    """Once numba's first-call costs are paid in the process (``warm_jit.any_loaded``), a batch of any size
    takes the compiled path, with the interpreted placement's slots and loads."""
    loads, contexts, expected, interpreted = _interpreted_then_compiled_only(monkeypatch, 11, 16, 37)
    monkeypatch.setattr(warm_jit, "_loaded", {len})  # something ran compiled
    compiled = loads.copy()
    assert np.array_equal(slot_placement.place(compiled, contexts, 1e-4, 3e-8), expected)
    assert np.array_equal(compiled, interpreted)
    monkeypatch.setattr(warm_jit, "_loaded", set())
    with pytest.raises(AssertionError, match="interpreted placement"):
        slot_placement.place(loads.copy(), contexts, 1e-4, 3e-8)
