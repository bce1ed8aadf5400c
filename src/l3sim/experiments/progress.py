"""A live progress bar for a sweep: points done / total, elapsed time and ETA (rich, on stderr)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


@contextmanager
def sweep_progress(total: int, done: int, enabled: bool = True) -> Iterator[Callable[[], None]]:
    """Yield a function that marks one more point done; ``done`` points (from the store) count from the start.

    The ETA is rich's estimate from the points finished in this session only, so
    reused points do not make it optimistic.
    """
    progress = Progress(
        TextColumn("sweep"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("elapsed"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not enabled,
    )
    with progress:
        task = progress.add_task("sweep", total=total, completed=done)
        yield lambda: progress.advance(task)


#: Grids smaller than this are validated too fast for a progress bar to help.
VALIDATION_PROGRESS_MIN_POINTS = 500


@contextmanager
def validation_progress(total: int, enabled: bool = True) -> Iterator[Callable[[], None]]:
    """Yield a function that marks one more point validated; a bar on stderr for large grids only."""
    progress = Progress(
        TextColumn("validating points"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
        disable=not (enabled and total >= VALIDATION_PROGRESS_MIN_POINTS),
    )
    with progress:
        task = progress.add_task("validate", total=total)
        yield lambda: progress.advance(task)
