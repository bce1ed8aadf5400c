"""A process that has imported numba (or scipy, pandas...) spends a few tenths of a second in the interpreter's
final garbage collections, rescanning every object those libraries created (numba's typing registries above
all). ``freeze_heap_at_exit`` registers ``gc.freeze`` as an exit handler, so those collections skip the heap:
the other exit handlers still run, and the operating system takes the cyclic garbage back with the process.
The CLI's ``main`` and every sweep worker call it (a worker's exit is part of the command's wall time: the
pool waits for it)."""

from __future__ import annotations

import atexit
import gc


def freeze_heap_at_exit() -> None:
    """Freeze the garbage collector's heap when this process exits (registered once however often called)."""
    atexit.unregister(gc.freeze)
    atexit.register(gc.freeze)
