"""What a study is given and what it returns: :class:`StudyOptions` in, :class:`StudyResult` out.

A study is a function ``study(options: StudyOptions) -> StudyResult``. It runs
its points (serving simulations through :func:`~l3sim.experiments.studies.points.run_grid`,
or cheaper model evaluations) and returns a table plus the words around it;
it writes no files itself. :mod:`l3sim.experiments.study_report` turns the result
into ``<name>.csv``, ``<name>.png`` and a Markdown section of ``report.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from l3sim.errors import ConfigError

#: Requests per serving run: the paper's 1,000 (L3 paper, section VI), and ``--quick``'s 100.
FULL_REQUESTS = 1000
QUICK_REQUESTS = 100

#: Folder (inside ``--out``) of the results store that every study of that folder shares.
STORE_DIR = "store"


@dataclass(frozen=True)
class StudyOptions:
    """How to run a study: where, how big, on which executor backend.

    ``requests`` overrides the request count of every serving run (tests use
    tiny runs); without it a run draws :data:`FULL_REQUESTS`, or
    :data:`QUICK_REQUESTS` with ``quick``. ``assumptions`` names the
    assumption profile every run is built with (``l3sim.spec.assumptions``).
    """

    out_dir: Path
    quick: bool = False
    backend: str = "joblib"
    jobs: int | None = None
    address: str | None = None
    progress: bool = True
    requests: int | None = None
    assumptions: str | None = None

    def __post_init__(self) -> None:
        if self.requests is not None and self.requests < 1:
            raise ConfigError(f"requests: expected at least 1 request per run, got {self.requests}")
        if self.assumptions is not None:
            from l3sim.spec.assumptions import load_profile

            load_profile(self.assumptions)  # an unknown profile fails before any study runs

    @property
    def request_count(self) -> int:
        """Requests drawn by each serving run of the study."""
        if self.requests is not None:
            return self.requests
        return QUICK_REQUESTS if self.quick else FULL_REQUESTS

    @property
    def spec_fields(self) -> dict[str, Any]:
        """RunSpec fields every serving run of the study gets: the request count and the assumption profile."""
        fields: dict[str, Any] = {"requests": self.request_count}
        if self.assumptions is not None:
            fields["assumptions"] = self.assumptions
        return fields

    @property
    def store_dir(self) -> Path:
        """The results store shared by every study written to ``out_dir``."""
        return Path(self.out_dir) / STORE_DIR


PlotFn = Callable[[pd.DataFrame, Path], None]


@dataclass
class StudyResult:
    """A finished study: its table, how to draw it and the Markdown around it.

    ``table`` is what ``<name>.csv`` holds and ``--json`` prints; ``plot(table,
    path)`` draws ``<name>.png`` (None: no figure); ``method`` says what ran,
    ``paper`` what the paper states, ``findings`` our figures in words
    (computed from ``table``); ``notes`` are caveats such as systems not
    available in this build.
    """

    name: str
    title: str
    table: pd.DataFrame
    method: str
    paper: str
    findings: str = ""
    plot: PlotFn | None = None
    notes: list[str] = field(default_factory=list)
