"""The resumable results store of a sweep: one Parquet part file per finished point, keyed by a content hash.

Layout of a store directory::

    parts/<hash>.parquet     one finished point (one row), written atomically
    parts/.tmp-<host>-<pid>-*  a part being written; ignored on read, removed once its writer is gone
    quarantine/<hash>.parquet.<ns>  a part found damaged, moved aside (its point is recomputed)

A point's key is :func:`spec_hash` of its fully resolved spec: the same spec in
any later sweep (another grid, another order, another machine) finds its row and
is not recomputed. A part is written to a temporary name, flushed to disk and
renamed with :func:`os.replace`, which is atomic on POSIX and Windows: a crash
(Ctrl-C, ``kill -9``, power loss) leaves either the whole row or nothing, never
a partial row, and because the part's name is its key a point can never be
stored twice. Reading the store concatenates the parts (deduplicated by hash as
a second line of defence, e.g. after a user copied two stores together).

Damage is not trusted: every part is opened and checked before its point counts
as done (:func:`part_problem`: one row, the meta columns and their types, the
hash equal to the file name, a stored status, the point's own spec). A part
that fails is moved to ``quarantine/`` and its point runs again.

Concurrency: several sweeps may share one store. Temporary names carry host
and process id, and a store removes only temporary files of dead processes of
its own host, so no sweep deletes another's file in flight; two sweeps that
finish the same point write identical parts, and the last rename wins.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from pathlib import Path
from typing import Any, Iterable, Mapping

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from l3sim import __version__
from l3sim.dotted import flatten_dotted
from l3sim.errors import L3SimError, OutputError
from l3sim.outputs import TMP_PREFIX, atomic_write, stale_temp_files

#: Bump when the layout or the meaning of a stored row changes; it is part of every key.
STORE_SCHEMA = "l3sim-store-1"

PARTS_DIR = "parts"
QUARANTINE_DIR = "quarantine"
#: The statuses a part may hold: "crashed" points are never stored (a rerun retries them).
STORED_STATUSES = ("ok", "error")
_SUFFIX = ".parquet"

#: Columns every stored row has besides the run's metrics.
HASH_COL = "hash"
STATUS_COL = "status"
ERROR_COL = "error"
ELAPSED_COL = "elapsed_s"
SPEC_COL = "spec_json"
META_COLUMNS = (HASH_COL, STATUS_COL, ERROR_COL, ELAPSED_COL, SPEC_COL)
#: Where the point came from besides its spec (l3sim version, command line, overrides as given, seed:
#: ``l3sim.spec.provenance``), canonical JSON; optional, so parts written before it existed stay valid.
PROVENANCE_COL = "provenance_json"
#: Every column that is not a metric of the run.
RESERVED_COLUMNS = (*META_COLUMNS, PROVENANCE_COL)


def canonical_json(obj: Any) -> str:
    """One text per value: sorted keys, no spaces, floats as ``repr`` (shortest round-trip), tuples as lists."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=True)


def spec_hash(spec: Mapping[str, Any], run_fn_name: str, code_version: str = __version__) -> str:
    """sha256 (hex) of the canonical JSON of the resolved ``spec``, the run function and the versions.

    The key includes :data:`STORE_SCHEMA`, the qualified name of the run
    function and ``code_version`` (the l3sim package version by default), so a
    new release of l3sim, or another run function, never reuses old rows.
    Changes to the simulator *within* one version do not change the key: start a
    fresh store (another ``--out``) after editing the simulator.
    """
    payload = {"schema": STORE_SCHEMA, "run_fn": run_fn_name, "version": code_version, "spec": dict(spec)}
    return hashlib.sha256(canonical_json(payload).encode("ascii")).hexdigest()


def flatten_metrics(metrics: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested mappings into dotted names; a list becomes its canonical JSON text (one cell, nothing lost)."""
    return flatten_dotted(metrics, leaf=_metric_cell, prefix=prefix)


def _metric_cell(name: str, value: Any) -> Any:
    """A stored metric's cell: numbers, strings, bools and None as they are, a numpy scalar as its Python
    value, a list or array as canonical JSON text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        return value.item()  # a numpy scalar
    if isinstance(value, (list, tuple)) or hasattr(value, "tolist"):
        return canonical_json(value.tolist() if hasattr(value, "tolist") else list(value))
    raise L3SimError(f"metric {name!r}: expected a number, string, bool or list, got {type(value).__name__}")


class ResultStore:
    """A directory of Parquet parts, one per finished point; see the module docstring for the guarantees."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.parts = self.root / PARTS_DIR
        try:
            self.parts.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"results store {self.parts}: cannot create: {exc.strerror or exc}") from None
        for stale in stale_temp_files(self.parts):  # left by a writer that died between write and rename
            stale.unlink(missing_ok=True)
        #: Parts found damaged and moved to QUARANTINE_DIR in this session: key -> why.
        self.quarantined: dict[str, str] = {}

    def _part_path(self, key: str) -> Path:
        return self.parts / f"{key}{_SUFFIX}"

    def done(self) -> set[str]:
        """Keys whose part file exists (from the file names; no part is opened: :meth:`valid` checks them)."""
        return {
            p.name[: -len(_SUFFIX)]
            for p in self.parts.iterdir()
            if p.name.endswith(_SUFFIX) and not p.name.startswith(TMP_PREFIX)
        }

    def put(
        self,
        key: str,
        spec: Mapping[str, Any],
        metrics: Mapping[str, Any] | None,
        *,
        status: str,
        error: str = "",
        elapsed_s: float = math.nan,
        provenance: Mapping[str, Any] | None = None,
    ) -> None:
        """Store one finished point atomically (metrics flattened to scalar columns; ``provenance``, where
        given, as canonical JSON in :data:`PROVENANCE_COL`)."""
        if status not in STORED_STATUSES:
            raise L3SimError(f"a stored point has status {' or '.join(STORED_STATUSES)}, not {status!r}")
        row: dict[str, Any] = {
            HASH_COL: key,
            STATUS_COL: status,
            ERROR_COL: error,
            ELAPSED_COL: float(elapsed_s),
            SPEC_COL: canonical_json(dict(spec)),
        }
        if provenance is not None:
            row[PROVENANCE_COL] = canonical_json(dict(provenance))
        for name, value in flatten_metrics(metrics or {}).items():
            if name in RESERVED_COLUMNS:
                reserved = ", ".join(RESERVED_COLUMNS)
                raise L3SimError(f"metric {name!r} clashes with a column the store reserves ({reserved})")
            row[name] = value
        frame = pd.DataFrame([row])
        atomic_write(self._part_path(key), lambda tmp: frame.to_parquet(tmp, engine="pyarrow", index=False),
                     "results store part")

    def _load(self, key: str, spec: Mapping[str, Any] | None) -> pa.Table:
        """The part of ``key``, checked; a damaged or foreign part is quarantined and PartError raised."""
        path = self._part_path(key)
        try:
            table = pq.read_table(path)
            problem = part_problem(table, key, spec)
        except (OSError, pa.ArrowException) as exc:  # not a file, not Parquet, truncated
            problem = f"unreadable ({type(exc).__name__}: {str(exc)[:200]})"
        if problem is None:
            return table
        self._quarantine(path, key, problem)
        raise PartError(problem)

    def _quarantine(self, path: Path, key: str, problem: str) -> None:
        """Move a bad part out of ``parts/`` (kept for inspection) so that its point is recomputed."""
        folder = self.root / QUARANTINE_DIR
        target = folder / f"{path.name}.{time.time_ns()}"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
        except FileNotFoundError:  # another sweep on this store moved it first
            pass
        except OSError as exc:
            raise OutputError(f"results store part {path} is damaged ({problem}) and cannot be moved aside: "
                              f"{exc.strerror or exc}; delete it and rerun") from None
        self.quarantined[key] = problem

    def valid(self, specs: Mapping[str, Mapping[str, Any]]) -> set[str]:
        """Keys of ``specs`` that have a sound part (each part opened and checked; bad ones quarantined)."""
        good = set()
        for key in sorted(set(specs) & self.done()):
            try:
                self._load(key, specs[key])
            except PartError:
                continue
            good.add(key)
        return good

    def read(self, keys: Iterable[str] | Mapping[str, Mapping[str, Any]] | None = None) -> pd.DataFrame:
        """The stored rows (only those of ``keys`` when given), one per hash, indexed by hash.

        Every part is checked as it is read; a damaged one is quarantined and left out. Given a mapping
        key -> spec, a part must also hold exactly that spec.
        """
        specs = keys if isinstance(keys, Mapping) else None
        wanted = self.done() if keys is None else set(keys) & self.done()
        tables = []
        for key in sorted(wanted):
            try:
                tables.append(self._load(key, specs[key] if specs is not None else None))
            except PartError:
                continue
        if not tables:
            return pd.DataFrame(columns=list(META_COLUMNS)).set_index(HASH_COL)
        try:  # Arrow's concatenation is the fast path; it widens int to float and fills absent columns with null
            table = pa.concat_tables(tables, promote_options="permissive").to_pandas()
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # a metric that is a number in one run and text in another
            table = pd.concat([t.to_pandas() for t in tables], ignore_index=True)
        return table.drop_duplicates(subset=HASH_COL, keep="first").set_index(HASH_COL)


class PartError(L3SimError):
    """A part file is damaged or does not belong to its name (it has been quarantined)."""


def part_problem(table: pa.Table, key: str, spec: Mapping[str, Any] | None) -> str | None:
    """What is wrong with the part ``table`` stored under ``key`` (None: nothing).

    One row; the meta columns present with their types; ``hash`` equal to the file name's key; ``status``
    one of STORED_STATUSES; and, when the point's ``spec`` is known, ``spec_json`` equal to it, so a part
    copied under another point's name (even with its hash edited) is caught.
    """
    if table.num_rows != 1:
        return f"{table.num_rows} rows, expected 1"
    missing = [name for name in META_COLUMNS if name not in table.column_names]
    if missing:
        return f"column(s) {', '.join(missing)} missing"
    row = {name: table.column(name)[0].as_py() for name in META_COLUMNS}
    for name in (HASH_COL, STATUS_COL, ERROR_COL, SPEC_COL):
        if not isinstance(row[name], str):
            return f"column {name!r} holds {type(row[name]).__name__}, expected text"
    elapsed = row[ELAPSED_COL]
    if elapsed is not None and (isinstance(elapsed, bool) or not isinstance(elapsed, (int, float))):
        return f"column {ELAPSED_COL!r} holds {type(elapsed).__name__}, expected a number"
    if row[HASH_COL] != key:
        return f"its hash column {row[HASH_COL][:16]}... does not match its file name"
    if row[STATUS_COL] not in STORED_STATUSES:
        return f"status {row[STATUS_COL]!r} is not one of {', '.join(STORED_STATUSES)}"
    if spec is not None and row[SPEC_COL] != canonical_json(dict(spec)):
        return "its spec is not the spec of this point"
    return None
