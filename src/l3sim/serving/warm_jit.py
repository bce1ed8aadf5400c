"""numba-compiled hot loops of the serving engine, and when to run them compiled.

A function run here is plain Python that numba compiles unchanged (and that runs interpreted under
``NUMBA_DISABLE_JIT=1``, which is how mutation testing exercises it). ``call_compiled`` runs it compiled
(once per process, cached on disk). Importing and loading numba costs a fresh process 1-2 s, more than a
run of a system without compiled parts saves by it, while a process that has loaded numba anyway (an L3
run, whose scheduler plans compiled; a sweep's worker after its first L3 point) gains a dozen numpy calls
per plan. So ``CompiledWhenLoaded`` runs the compiled function once something has run compiled in the
process, and the numpy formulation it replaces before. Both give the same answers bit for bit: the same
floating-point operations in the same order (each pair's tests check it).
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


def any_loaded() -> bool:
    """Whether something has run compiled in this process, so that numba's first-call costs are paid."""
    return bool(_loaded)


class CompiledWhenLoaded:
    """``function`` compiled once numba is loaded in this process (something has run compiled), else ``numpy``,
    the same computation in numpy (the same arguments and answers); ``compiled_calls`` counts the first kind."""

    def __init__(self, function: Callable, numpy: Callable) -> None:
        self.function, self.numpy = function, numpy
        self.compiled_calls = 0

    def __call__(self, *args: Any) -> Any:
        if _loaded:
            self.compiled_calls += 1
            return call_compiled(self.function, *args)
        return self.numpy(*args)
