"""Hot loops of the serving engine that run interpreted at first and numba-compiled once a run calls them often.

A function here is plain Python that numba compiles unchanged (and that runs interpreted under
``NUMBA_DISABLE_JIT=1``, which is how mutation testing exercises it). Loading numba costs a fresh process
~0.8 s, more than a short run spends in these loops, and a long run calls them tens of thousands of times,
where a dozen numpy calls each would dominate; so ``CompiledAfter`` calls the function as Python for its
first ``after`` calls and compiled (cached on disk) from then on. Both give the same answers bit for bit:
the same floating-point operations in the same order (each function's tests check both).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Callable


@lru_cache(maxsize=None)
def compiled(function: Callable) -> Callable:
    """``function`` compiled by numba, once per process (cached on disk)."""
    import numba

    return numba.njit(cache=True, nogil=True)(function)


class CompiledAfter:
    """``function`` called interpreted ``after`` times, then compiled; ``calls`` counts the calls."""

    def __init__(self, function: Callable, after: int) -> None:
        self.function, self.after = function, after
        self.calls = 0

    def __call__(self, *args):
        self.calls += 1
        return (compiled(self.function) if self.calls > self.after else self.function)(*args)
