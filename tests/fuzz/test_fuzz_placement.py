"""Least-loaded placement of the disaggregated systems: the fast version makes the scan's choices.

The reference below is the definition (each request onto the least-loaded slot, first of equals, whose
load then grows by fixed + per_token x context); the system's version must give the same slots and
the same final loads, bit for bit, so that runs stay deterministic and unchanged.
"""

from __future__ import annotations

from types import SimpleNamespace

from fuzz_profile import FUZZ
from hypothesis import given
from hypothesis import strategies as st

from l3sim.serving.systems.disaggregated import DisaggregatedSystem


def scan(loads: list[float], contexts: list[float], fixed: float, per_token: float) -> list[int]:
    slots = []
    for context in contexts:
        slot = loads.index(min(loads))
        slots.append(slot)
        loads[slot] += fixed + per_token * context
    return slots


LOADS = st.lists(st.sampled_from([0.0, 0.5, 1.0, 2.5]) | st.floats(0, 10), min_size=1, max_size=40)
CONTEXTS = st.lists(st.integers(0, 5000).map(float), max_size=60)


@FUZZ
@given(loads=LOADS, contexts=CONTEXTS, fixed=st.sampled_from([0.0, 1e-3, 0.25]), per_token=st.sampled_from([0.0, 1e-6]))
def test_fast_placement_equals_the_scan(loads, contexts, fixed, per_token) -> None:
    system = object.__new__(DisaggregatedSystem)
    system.device = SimpleNamespace(fixed_s=fixed, per_token_s=per_token)
    expected_loads = list(loads)
    expected = scan(expected_loads, contexts, fixed, per_token)
    got_loads = list(loads)
    assert system._least_loaded_slots(got_loads, contexts) == expected
    assert got_loads == expected_loads
