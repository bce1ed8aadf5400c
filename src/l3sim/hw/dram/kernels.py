"""How the DRAM loops run: compiled by numba (once per process, cached on disk) or interpreted as plain Python.

Both issue loops (``fifo_kernel`` for the in-order PIM controller, ``controller_kernel`` for the host-traffic
FR-FCFS controller) are plain Python functions; ``engine`` and ``controller`` call them through
:func:`kernel_runner`, so the "python" backend the tests use runs the very code numba compiles.
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from typing import Any, Callable

Runner = Callable[..., Any]


@lru_cache(maxsize=None)
def _compiled(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    import numba

    return numba.njit(cache=True, nogil=True)(function)


def kernel_runner(backend: str) -> Runner:
    """``run(name, function, *args)``: ``function`` compiled by numba (once per process) or as plain Python.

    numba's pedantic IR check warns, harmlessly, about the helpers it inlines while compiling; silenced here.
    """

    def run(name: str, function: Callable[..., Any], *args: Any) -> Any:
        if backend == "python":
            return function(*args)
        from numba.core.errors import NumbaIRAssumptionWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NumbaIRAssumptionWarning)
            return _compiled(name, function)(*args)

    return run
