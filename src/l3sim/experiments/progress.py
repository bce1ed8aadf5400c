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
