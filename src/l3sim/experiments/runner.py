"""Run a sweep: validate every point, run the missing ones through an executor, store, then write the outputs.

Output directory layout::

    store/parts/<hash>.parquet   one row per finished point (see l3sim.experiments.store)
    results.parquet              one row per point of this sweep, in grid order
    results.csv                  the same table as CSV
    plots/<y>_vs_<x>[_by_<hue>].png

Rows of points that finished with an :class:`~l3sim.errors.L3SimError` (say a
configuration that does not fit) are stored with status "error" and its
message: they are a deterministic verdict on the spec. Points whose run raised
anything else have status "crashed" in the results but are not stored, so the
next run of the same sweep retries them.
"""

from __future__ import annotations

import math
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from l3sim.errors import ConfigError, L3SimError, MissingDependencyError
from l3sim.experiments.executor import RunFn, make_executor
from l3sim.experiments.progress import sweep_progress, validation_progress
from l3sim.experiments.store import (
    ELAPSED_COL,
    ERROR_COL,
    HASH_COL,
    META_COLUMNS,
    RESERVED_COLUMNS,
    STATUS_COL,
    ResultStore,
    atomic_write,
    canonical_json,
    flatten_metrics,
)
from l3sim.experiments.sweep import Point, Sweep
from l3sim.experiments.sweep_plots import draw_plot, plot_file_name
from l3sim.spec.provenance import provenance

STORE_DIR = "store"
RESULTS_PARQUET = "results.parquet"
RESULTS_CSV = "results.csv"
PLOTS_DIR = "plots"
#: Prefix of a metric column whose name is also a grid key (the grid key keeps the plain name).
CLASH_PREFIX = "result."


def simulate_point(spec: dict[str, Any]) -> dict[str, Any]:
    """The default run function: one serving simulation of ``spec``, its flat metrics (which hold no
    bound-and-loss account and no timeline, so the run skips both)."""
    from l3sim.serving import simulate  # imported here: the serving layer is optional for this module
    from l3sim.spec.run import RunSpec

    return simulate(RunSpec.parse(spec, source="sweep point"), account=False, timeline=False).to_dict()


def simulate_point_explained(spec: dict[str, Any]) -> dict[str, Any]:
    """``simulate_point`` with the bound-and-loss account kept: the flat metrics plus ``account_dict()``
    (``bound_s``, ``losses_s.*``, the time-averaged batches), for studies that show where the time goes."""
    from l3sim.serving import simulate
    from l3sim.spec.run import RunSpec

    result = simulate(RunSpec.parse(spec, source="sweep point"), timeline=False)
    return {**result.to_dict(), **result.account_dict()}


def require_simulator() -> None:
    """Raise MissingDependencyError unless ``l3sim.serving.simulate`` can be imported."""
    try:
        from l3sim.serving import simulate  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError(
            f"the serving simulator (l3sim.serving.simulate) is not available: {exc}"
        ) from None


def run_fn_name(run_fn: RunFn) -> str:
    """``module.qualname`` of a run function: part of every store key."""
    return f"{run_fn.__module__}.{run_fn.__qualname__}"


@dataclass
class SweepReport:
    """What a sweep did: counts, the crashed points' messages, the results table and the files written."""

    total: int
    reused: int
    ran: int
    crashed: dict[str, str] = field(default_factory=dict)
    quarantined: dict[str, str] = field(default_factory=dict)  # damaged parts moved aside and recomputed: key -> why
    results: pd.DataFrame = field(default_factory=pd.DataFrame)
    files: dict[str, str] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """Counts by status and file paths, for printing."""
        statuses = self.results[STATUS_COL].value_counts().to_dict() if len(self.results) else {}
        damaged = {"quarantined": len(self.quarantined)} if self.quarantined else {}
        return {"points": self.total, "reused": self.reused, "ran": self.ran, **damaged, **statuses,
                "files": self.files}


def results_table(sweep: Sweep, points: list[Point], stored: pd.DataFrame, crashed: dict[str, str]) -> pd.DataFrame:
    """One row per point in grid order: grid values, status, error, metrics, elapsed_s, hash."""
    metric_cols = [c for c in stored.columns if c not in RESERVED_COLUMNS]
    wanted = sweep.output.metrics or metric_cols
    missing = [m for m in wanted if m not in metric_cols]
    if missing and (stored[STATUS_COL] == "ok").any():
        raise L3SimError(
            f"{sweep.source}: output.metrics {missing} are not produced by the run; it gives: {', '.join(metric_cols)}"
        )
    keys = sweep.keys
    rows = []
    for point in points:
        row: dict[str, Any] = dict(point.params)
        if point.key in stored.index:
            found = stored.loc[point.key]
            row[STATUS_COL], row[ERROR_COL] = found[STATUS_COL], found[ERROR_COL]
            metrics = {m: found.get(m, math.nan) for m in wanted}
            elapsed = found[ELAPSED_COL]
        else:
            row[STATUS_COL], row[ERROR_COL] = "crashed", crashed.get(point.key, "not run")
            metrics, elapsed = {m: math.nan for m in wanted}, math.nan
        for name, value in metrics.items():
            row[f"{CLASH_PREFIX}{name}" if name in keys else name] = value
        row[ELAPSED_COL], row[HASH_COL] = elapsed, point.key
        rows.append(row)
    return pd.DataFrame(rows)


def uniform_columns(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with every text column that also holds other values (a grid of ``seed = ["7", 1]``, a metric
    that is text in one run and a number in another) written as canonical JSON text throughout, so that
    Parquet, which needs one type per column, can store it; numbers and NaN stay as they are elsewhere."""
    table = table.copy()
    for name in table.columns:
        column = table[name]
        if column.dtype != object:
            continue
        kinds = {type(value) for value in column if not (isinstance(value, float) and math.isnan(value))}
        if len(kinds) > 1:
            table[name] = column.map(lambda v: v if isinstance(v, str) else canonical_json(v))
    return table


def write_outputs(table: pd.DataFrame, sweep: Sweep, out_dir: Path) -> dict[str, str]:
    """Write results.parquet, results.csv and the plots (each atomically); return their paths by name."""
    files = {RESULTS_PARQUET: out_dir / RESULTS_PARQUET, RESULTS_CSV: out_dir / RESULTS_CSV}
    table = uniform_columns(table)
    atomic_write(files[RESULTS_PARQUET], lambda tmp: table.to_parquet(tmp, engine="pyarrow", index=False))
    atomic_write(files[RESULTS_CSV], lambda tmp: table.to_csv(tmp, index=False))
    plots = sweep.output.plots if (table[STATUS_COL] == "ok").any() else []  # nothing finished: nothing to draw
    for plot in plots:
        path = out_dir / PLOTS_DIR / plot_file_name(plot)
        draw_plot(table, plot, path, sweep.keys)
        files[path.name] = path
    return {name: str(path) for name, path in files.items()}


def run_sweep(
    sweep: Sweep,
    out_dir: Path | str,
    *,
    backend: str = "joblib",
    address: str | None = None,
    jobs: int | None = None,
    run_fn: RunFn = simulate_point,
    progress: bool = True,
    command_line: str = "",
) -> SweepReport:
    """Run every point of ``sweep`` not yet in ``out_dir/store`` and write the outputs.

    Order of work, so that bad input writes nothing: every point is validated,
    then the executor connects (an unreachable Ray address fails here), and only
    then is the output directory created. Points with equal specs run once.
    An interrupt (Ctrl-C) propagates after the finished points are stored;
    running the same sweep again resumes. Each stored point carries its provenance (l3sim.spec.provenance:
    the resolved spec, the overrides as given, the seed, the l3sim version and ``command_line``).
    """
    out_dir = Path(out_dir)
    if run_fn is simulate_point:
        check_simulation_metrics(sweep)
    with validation_progress(sweep.size, progress) as advance:
        points = sweep.points(run_fn_name(run_fn), advance)
    unique = {point.key: point.spec for point in points}
    records = {point.key: provenance(point.spec, point.overrides, command_line) for point in points}
    store, ran, crashed = run_missing(unique, out_dir / STORE_DIR, run_fn, backend=backend, address=address,
                                      jobs=jobs, progress=progress, provenance=records)
    table = results_table(sweep, points, store.read(unique), crashed)
    files = write_outputs(table, sweep, out_dir)
    return SweepReport(len(points), len(unique) - ran, ran, crashed, dict(store.quarantined), table, files)


def simulation_metric_names() -> tuple[set[str], tuple[str, ...]] | None:
    """The columns :func:`simulate_point` produces: fixed names, and prefixes of tables whose keys vary
    (``busy_fraction.gpu``, ``aggregates.fc_flops`` ...), derived from RunResult itself; None where the
    serving layer is not importable (then nothing is known before a run)."""
    try:
        from l3sim.serving.result import RunResult
    except ImportError:
        return None
    blank = RunResult(system="", scheduler="", model="", workload="", tp=1, dp=1, requests=0)
    fields = blank.to_dict()
    open_tables = tuple(f"{name}." for name, value in fields.items() if isinstance(value, dict) and not value)
    return set(flatten_metrics(fields)), open_tables


def check_simulation_metrics(sweep: Sweep) -> None:
    """Reject output.metrics and plot y names a simulation never produces, before any point runs."""
    known = simulation_metric_names()
    if known is None:
        return
    names, prefixes = known
    wanted = list(sweep.output.metrics) + [plot.y for plot in sweep.output.plots]
    unknown = [name for name in wanted if name not in names and not name.startswith(prefixes)]
    if unknown:
        raise ConfigError(f"{sweep.source}: output metric(s) {', '.join(map(repr, unknown))} are not produced by a "
                          f"simulation; known: {', '.join(sorted(names))} and any key under "
                          f"{', '.join(p + '*' for p in prefixes)}")


def run_missing(
    specs: dict[str, Any],
    store_dir: Path,
    run_fn: RunFn,
    *,
    backend: str,
    address: str | None,
    jobs: int | None,
    progress: bool,
    provenance: dict[str, dict[str, Any]] | None = None,
    label: str = "sweep",
) -> tuple[ResultStore, int, dict[str, str]]:
    """Run every spec of ``specs`` (hash key -> spec) not yet in the store at ``store_dir``; store each result
    as it arrives, with its ``provenance`` record (hash key -> record) where given; ``label`` names the
    progress bar. Returns the store, how many ran, and the crashed ones' errors by key (not stored, so a
    rerun retries them).

    The executor connects before the store's folder is created, so an unreachable Ray address writes nothing.
    When every spec is already stored (a rerun, or a study reading the runs ``reproduce`` prefetched) no executor
    is started: a Ray backend would otherwise start and stop a local Ray, or connect, for nothing.
    """
    store = ResultStore(store_dir) if Path(store_dir).is_dir() else None
    stored = store.valid(specs) if store is not None else set()
    todo = [(key, spec) for key, spec in specs.items() if key not in stored]
    crashed: dict[str, str] = {}
    if store is not None and not todo:
        with sweep_progress(len(specs), len(specs), progress, label):
            return store, 0, crashed
    with make_executor(backend, address=address, jobs=jobs) as executor:
        if store is None:
            store = ResultStore(store_dir)
        with sweep_progress(len(specs), len(specs) - len(todo), progress, label) as advance:
            with closing(executor.map(run_fn, [spec for _, spec in todo])) as outcomes:
                for index, outcome in outcomes:
                    key, spec = todo[index]
                    if outcome.status == "crashed":
                        crashed[key] = outcome.error
                    else:
                        store.put(key, spec, outcome.metrics, status=outcome.status, error=outcome.error,
                                  elapsed_s=outcome.elapsed_s, provenance=(provenance or {}).get(key))
                    advance()
    return store, len(todo), crashed
