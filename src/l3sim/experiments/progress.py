"""Live progress bars on stderr (rich): done / total, elapsed time and ETA, for every long command.

:func:`progress_bar` yields a :class:`Bar`; a disabled bar draws nothing, so callers advance it
without checking. Whether to draw is the caller's decision (``l3sim.cli.output.progress_enabled``:
table output on a terminal only).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


@dataclass
class Bar:
    """One task of a rich Progress: advance it, or set how much is done."""

    progress: Progress
    task: TaskID

    def advance(self, steps: float = 1) -> None:
        """``steps`` more units done."""
        self.progress.advance(self.task, steps)

    def set(self, completed: float, total: float | None = None, label: str | None = None) -> None:
        """``completed`` units done (of ``total``, if it changed); ``label`` replaces the description."""
        fields: dict = {"completed": completed}
        if total is not None:
            fields["total"] = total
        if label is not None:
            fields["description"] = label
        self.progress.update(self.task, **fields)

    def log(self, text: str) -> None:
        """A line above the bar (nothing when the bar is disabled)."""
        if not self.progress.disable:
            self.progress.console.print(text, highlight=False, markup=False)

    def run_callback(self, index: int, label: str | None = None) -> Callable[[int, int], None]:
        """A ``simulate(progress=...)`` callback for run ``index`` of a bar counting runs: the bar stands at
        ``index`` plus the share of that run's requests done; ``label`` names the run."""
        self.set(index, label=label)
        return lambda done, total: self.set(index + (done / total if total else 0.0))


@contextmanager
def progress_bar(label: str, total: float | None, enabled: bool = True, done: float = 0, counts: bool = True,
                 transient: bool = True) -> Iterator[Bar]:
    """A bar on stderr: ``label``, the bar, ``done/total`` (``counts``) or a percentage, elapsed, ETA.

    ``done`` units (reused results) count from the start; rich's ETA comes from the speed measured in
    this session, so they do not make it optimistic. ``transient`` bars vanish when finished, leaving the
    terminal to the command's table.
    """
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn() if counts else TaskProgressColumn(),
        TextColumn("elapsed"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=transient,
        disable=not enabled,
    )
    with progress:
        yield Bar(progress, progress.add_task(label, total=total, completed=done))


@contextmanager
def sweep_progress(total: int, done: int, enabled: bool = True, label: str = "sweep") -> Iterator[Callable[[], None]]:
    """Yield a function that marks one more point done; ``done`` points (from the store) count from the start."""
    with progress_bar(label, total, enabled, done, transient=False) as bar:
        yield bar.advance


#: Grids smaller than this are validated too fast for a progress bar to help.
VALIDATION_PROGRESS_MIN_POINTS = 500


@contextmanager
def validation_progress(total: int, enabled: bool = True) -> Iterator[Callable[[], None]]:
    """Yield a function that marks one more point validated; a bar on stderr for large grids only."""
    with progress_bar("validating points", total, enabled and total >= VALIDATION_PROGRESS_MIN_POINTS) as bar:
        yield bar.advance
