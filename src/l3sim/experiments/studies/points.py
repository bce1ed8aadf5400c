"""The runner every serving study shares: a grid of RunSpecs through the sweep executor into one store.

A study describes its runs as a sweep (base fields, grid axes, zipped axes;
see docs/sweeps.md), so each point is validated as a :class:`~l3sim.spec.run.RunSpec`
before anything runs. All studies written to one ``--out`` share the store
``OUT/store``, keyed by spec hash: a point two studies both need (say L3 on
GPT-175B / OpenR1 in ``e2e`` and ``breakdown``) runs once, and a rerun of
``l3sim reproduce`` resumes where it stopped.

Points whose system or scheduler is not registered in this build are not run
(and so not stored, which would freeze an "unknown system" verdict in the
store): they come back with status :data:`UNAVAILABLE`.
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple, Sequence

import pandas as pd

from l3sim.experiments.executor import RunFn
from l3sim.experiments.runner import results_table, run_fn_name, run_missing, simulate_point
from l3sim.experiments.store import ERROR_COL, STATUS_COL
from l3sim.experiments.studies.base import StudyOptions
from l3sim.experiments.sweep import Point, Sweep, parse_sweep

#: Status of a point whose system or scheduler this build does not have.
UNAVAILABLE = "unavailable"


def _missing_part(spec: Mapping[str, Any]) -> str:
    """Why ``spec`` cannot run in this build ('' when it can)."""
    from l3sim.serving.schedulers import scheduler_names
    from l3sim.serving.systems import system_names

    if spec["system"] not in system_names():
        return f"system {spec['system']!r} is not available in this build (known: {', '.join(system_names())})"
    scheduler = spec.get("scheduler")
    if scheduler is not None and scheduler not in scheduler_names():
        return f"scheduler {scheduler!r} is not available in this build (known: {', '.join(scheduler_names())})"
    return ""


class Grid(NamedTuple):
    """The serving runs a study needs: a sweep's ``base`` fields, ``grid`` axes and ``zips`` (zipped axes), as in
    a sweep file, and the function that simulates a point (part of every store key, so points run by another
    function are stored apart). A study module lists its grids in ``grids(options)``, so that ``l3sim reproduce``
    of several studies can run them all before any study (:func:`prefetch`)."""

    base: Mapping[str, Any]
    grid: Mapping[str, list[Any]]
    zips: tuple[Mapping[str, list[Any]], ...] = ()
    run_fn: RunFn = simulate_point


def _points(study: str, options: StudyOptions,
            grid: Grid) -> tuple[Sweep, list[Point], dict[str, Any], dict[str, str]]:
    """The sweep of ``grid`` (``base`` gets ``requests`` and the assumption profile from ``options`` unless it
    names them), its points, the runnable ones (hash -> spec) and why the others cannot run (hash -> reason)."""
    data = {"base": {**options.spec_fields, **grid.base}, "grid": dict(grid.grid), "zip": list(grid.zips)}
    sweep = parse_sweep(data, source=f"study {study}")
    points: list[Point] = sweep.points(run_fn_name(grid.run_fn))
    unique = {point.key: point.spec for point in points}
    missing = {key: why for key, spec in unique.items() if (why := _missing_part(spec))}
    runnable = {key: spec for key, spec in unique.items() if key not in missing}
    return sweep, points, runnable, missing


def run_grid(study: str, options: StudyOptions, grid: Grid) -> pd.DataFrame:
    """Run the points of ``grid`` not yet stored and return its results table.

    The table has one row per point in grid order: the grid keys, ``status`` ("ok",
    "error" for an l3sim verdict such as a capacity error, "crashed", or
    :data:`UNAVAILABLE`), ``error``, every metric of the run, ``elapsed_s``, ``hash``.
    """
    sweep, points, runnable, missing = _points(study, options, grid)
    store, _, crashed = run_missing(runnable, options.store_dir, grid.run_fn, backend=options.backend,
                                    address=options.address, jobs=options.jobs, progress=options.progress,
                                    label=study)
    table = results_table(sweep, points, store.read(runnable), crashed)
    unavailable = table["hash"].isin(list(missing))
    table.loc[unavailable, STATUS_COL] = UNAVAILABLE
    table.loc[unavailable, ERROR_COL] = table.loc[unavailable, "hash"].map(missing)
    return table


def prefetch(grids: Sequence[tuple[str, Grid]], options: StudyOptions) -> None:
    """Run every point of these (study, grid) pairs that is not yet stored, in one pass of the executor per run
    function, so that the workers stay busy across studies instead of waiting at the end of each for its
    longest run. The studies then read their points from the store. A point that crashes here is not stored
    and runs again, and reports its crash, in its study."""
    by_function: dict[RunFn, dict[str, Any]] = {}
    studies = {study for study, _ in grids}
    for study, grid in grids:
        by_function.setdefault(grid.run_fn, {}).update(_points(study, options, grid)[2])
    for run_fn, specs in by_function.items():
        run_missing(specs, options.store_dir, run_fn, backend=options.backend, address=options.address,
                    jobs=options.jobs, progress=options.progress, label=f"{len(studies)} studies' runs")
