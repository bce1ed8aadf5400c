"""Least-loaded placement of decodes on an attention device's slots (ranks, rank sets, DIMMs, channels).

Each request in turn goes onto the least-loaded slot (the first of equals), whose load then grows by the
request's step seconds, ``fixed_s + per_token_s * context``. The disaggregated systems place admitted
requests this way, and their what-if ``pim_stage_s`` places a hypothetical sub-batch longest first; the
L3 scheduler's training asks that for a thousand sub-batches of up to tens of thousands of decodes
(docs/scheduler.md), which interpreted Python paid for in seconds per run.

``least_loaded_slots`` is plain Python that numba compiles unchanged (and that runs interpreted under
``NUMBA_DISABLE_JIT=1``); ``place`` runs it compiled for large batches, and for any batch once something has
run compiled in the process (``warm_jit.any_loaded``: an L3 run after its first plan, a sweep's worker), so a
run whose placements are all small and that compiles nothing else never loads numba (~0.8 s in a fresh
process). Both give the same slots and loads bit for bit: the same floating-point operations in the same
order (``tests/fuzz/test_fuzz_placement.py``).
"""

from __future__ import annotations

import heapq
from functools import lru_cache

import numpy as np

from l3sim.serving import warm_jit

# batches at least this large run compiled; an interpreted placement of this many costs ~10 ms
COMPILED_FROM = 4096


def least_loaded_slots(loads: np.ndarray, context_tokens: np.ndarray, order: np.ndarray, fixed_s: float,
                       per_token_s: float) -> np.ndarray:
    """The slot of each request of ``context_tokens`` in turn; ``loads`` (seconds per slot) is updated.
    ``order``: the slots sorted by (initial load, index).

    The same choices as scanning every slot per request, in O(S log S + n log S) for S slots and n
    requests (a host with many ranks has thousands of slots): slots not yet chosen are taken in ``order``,
    chosen ones come from a heap keyed (load, index), and the next choice is the smaller of the two heads.
    """
    slots = np.empty(context_tokens.size, dtype=np.int64)
    chosen = [(0.0, 0)]  # a heap of (load, slot) of the slots chosen so far (typed by its first entry)
    chosen.pop()
    untouched = 0
    for k in range(context_tokens.size):
        fresh = untouched < order.size
        if fresh and len(chosen) > 0:
            head = order[untouched]
            fresh = not chosen[0] < (loads[head], head)
        slot = order[untouched] if fresh else chosen[0][1]
        loads[slot] += fixed_s + per_token_s * context_tokens[k]
        if fresh:
            untouched += 1
            heapq.heappush(chosen, (loads[slot], slot))
        else:
            heapq.heapreplace(chosen, (loads[slot], slot))
        slots[k] = slot
    return slots


@lru_cache(maxsize=None)
def _compiled():
    import numba

    return numba.njit(cache=True, nogil=True)(least_loaded_slots)


def place(loads: np.ndarray, context_tokens, fixed_s: float, per_token_s: float,
          compiled: bool | None = None) -> np.ndarray:
    """``least_loaded_slots`` from ``loads`` (seconds per slot; a float64 array is updated in place), run
    compiled if ``compiled``, by default for batches of ``COMPILED_FROM`` requests or more and for any batch
    once something has run compiled in this process."""
    loads = np.asarray(loads, dtype=np.float64)
    context = np.ascontiguousarray(context_tokens, dtype=np.float64)
    if loads.size == 0 or loads.min() == loads.max():
        order = np.arange(loads.size, dtype=np.int64)  # equal loads: by index
    else:
        order = np.lexsort((np.arange(loads.size), loads)).astype(np.int64)
    if compiled is None:
        compiled = context.size >= COMPILED_FROM or warm_jit.any_loaded()
    run = _compiled() if compiled else least_loaded_slots
    return run(loads, context, order, float(fixed_s), float(per_token_s))
