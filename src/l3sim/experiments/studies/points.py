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

from typing import Any, Mapping

import pandas as pd

from l3sim.experiments.executor import RunFn
from l3sim.experiments.runner import results_table, run_fn_name, run_missing, simulate_point
from l3sim.experiments.store import ERROR_COL, STATUS_COL
from l3sim.experiments.studies.base import StudyOptions
from l3sim.experiments.sweep import Point, parse_sweep

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


def run_grid(
    study: str,
    options: StudyOptions,
    base: Mapping[str, Any],
    grid: Mapping[str, list[Any]],
    zips: list[Mapping[str, list[Any]]] | None = None,
    run_fn: RunFn = simulate_point,
) -> pd.DataFrame:
    """Run the points of a sweep (``base``, ``grid``, ``zips`` as in a sweep file) and return its results table.

    ``base`` gets ``requests`` and the assumption profile from ``options`` unless it names them. The table
    has one row per point in grid order: the grid keys, ``status`` ("ok",
    "error" for an l3sim verdict such as a capacity error, "crashed", or
    :data:`UNAVAILABLE`), ``error``, every metric of the run, ``elapsed_s``, ``hash``. ``run_fn`` simulates a
    point (its name is part of every store key, so points run by another function are stored apart).
    """
    data = {"base": {**options.spec_fields, **base}, "grid": dict(grid), "zip": list(zips or [])}
    sweep = parse_sweep(data, source=f"study {study}")
    points: list[Point] = sweep.points(run_fn_name(run_fn))
    unique = {point.key: point.spec for point in points}
    missing = {key: why for key, spec in unique.items() if (why := _missing_part(spec))}
    runnable = {key: spec for key, spec in unique.items() if key not in missing}
    store, _, crashed = run_missing(runnable, options.store_dir, run_fn, backend=options.backend,
                                    address=options.address, jobs=options.jobs, progress=options.progress)
    table = results_table(sweep, points, store.read(runnable), crashed)
    unavailable = table["hash"].isin(list(missing))
    table.loc[unavailable, STATUS_COL] = UNAVAILABLE
    table.loc[unavailable, ERROR_COL] = table.loc[unavailable, "hash"].map(missing)
    return table
