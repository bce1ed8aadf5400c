"""numba-compiled hot loops of the serving engine, and when to run them compiled.

A function run here is plain Python that numba compiles unchanged (and that runs interpreted under
``NUMBA_DISABLE_JIT=1``, which is how mutation testing exercises it). ``call_compiled`` runs it compiled
(once per process, cached on disk). Loading numba costs a fresh process ~0.8 s, more than a short run
spends in these loops, while a long run calls them tens of thousands of times, where a dozen numpy calls
each would dominate; so ``CompiledAfter`` runs its function as Python for its first ``after`` calls and
compiled from then on, or at once if this process has already run something compiled (numba is loaded:
the L3 scheduler's plan, or an earlier run of a sweep's worker). Both give the same answers bit for bit:
the same floating-point operations in the same order (each function's tests check both).
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from typing import Any, Callable

_loaded: set = set()  # the functions that have run compiled in this process


@lru_cache(maxsize=None)
def compiled(function: Callable) -> Callable:
    """``function`` compiled by numba (its dispatcher: compiled, or loaded from numba's cache, at the first call)."""
    import numba

    return numba.njit(cache=True, nogil=True)(function)


def call_compiled(function: Callable, *args: Any) -> Any:
    """``function(*args)`` compiled. numba's pedantic IR check warns, harmlessly, about the helpers it inlines
    while compiling; silenced around the first call (the one that compiles or loads the cache)."""
    dispatcher = compiled(function)
    if function in _loaded:
        return dispatcher(*args)
    from numba.core.errors import NumbaIRAssumptionWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NumbaIRAssumptionWarning)
        result = dispatcher(*args)
    _loaded.add(function)
    return result


class CompiledAfter:
    """``function`` called interpreted until numba is loaded or ``after`` calls have been made, then compiled;
    ``calls`` counts the calls."""

    def __init__(self, function: Callable, after: int) -> None:
        self.function, self.after = function, after
        self.calls = 0

    def __call__(self, *args: Any) -> Any:
        self.calls += 1
        if _loaded or self.calls > self.after:
            return call_compiled(self.function, *args)
        return self.function(*args)
