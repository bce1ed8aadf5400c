"""The resumable results store of a sweep: one Parquet part file per finished point, keyed by a content hash.

Layout of a store directory::

    parts/<hash>.parquet     one finished point (one row), written atomically
    parts/.tmp-*             a part being written; ignored on read, removed on open

A point's key is :func:`spec_hash` of its fully resolved spec: the same spec in
any later sweep (another grid, another order, another machine) finds its row and
is not recomputed. A part is written to a temporary name, flushed to disk and
renamed with :func:`os.replace`, which is atomic on POSIX and Windows: a crash
(Ctrl-C, ``kill -9``, power loss) leaves either the whole row or nothing, never
a partial row, and because the part's name is its key a point can never be
stored twice. Reading the store concatenates the parts (deduplicated by hash as
a second line of defence, e.g. after a user copied two stores together).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from l3sim import __version__
from l3sim.errors import L3SimError
from l3sim.outputs import TMP_PREFIX, atomic_write

#: Bump when the layout or the meaning of a stored row changes; it is part of every key.
STORE_SCHEMA = "l3sim-store-1"

PARTS_DIR = "parts"
_SUFFIX = ".parquet"

#: Columns every stored row has besides the run's metrics.
HASH_COL = "hash"
STATUS_COL = "status"
ERROR_COL = "error"
ELAPSED_COL = "elapsed_s"
SPEC_COL = "spec_json"
META_COLUMNS = (HASH_COL, STATUS_COL, ERROR_COL, ELAPSED_COL, SPEC_COL)


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
    flat: dict[str, Any] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_metrics(value, prefix=f"{name}."))
        elif value is None or isinstance(value, (bool, int, float, str)):
            flat[name] = value
        elif hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
            flat[name] = value.item()  # a numpy scalar
        elif isinstance(value, (list, tuple)) or hasattr(value, "tolist"):
            flat[name] = canonical_json(value.tolist() if hasattr(value, "tolist") else list(value))
        else:
            raise L3SimError(f"metric {name!r}: expected a number, string, bool or list, got {type(value).__name__}")
    return flat


class ResultStore:
    """A directory of Parquet parts, one per finished point; see the module docstring for the guarantees."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.parts = self.root / PARTS_DIR
        self.parts.mkdir(parents=True, exist_ok=True)
        for stale in self.parts.glob(f"{TMP_PREFIX}*"):  # left by a crash between write and rename
            stale.unlink(missing_ok=True)

    def _part_path(self, key: str) -> Path:
        return self.parts / f"{key}{_SUFFIX}"

    def done(self) -> set[str]:
        """Keys of the stored points (from the file names; no part is opened)."""
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
    ) -> None:
        """Store one finished point atomically (metrics flattened to scalar columns)."""
        row: dict[str, Any] = {
            HASH_COL: key,
            STATUS_COL: status,
            ERROR_COL: error,
            ELAPSED_COL: float(elapsed_s),
            SPEC_COL: canonical_json(dict(spec)),
        }
        for name, value in flatten_metrics(metrics or {}).items():
            if name in row:
                reserved = ", ".join(META_COLUMNS)
                raise L3SimError(f"metric {name!r} clashes with a column the store reserves ({reserved})")
            row[name] = value
        frame = pd.DataFrame([row])
        atomic_write(self._part_path(key), lambda tmp: frame.to_parquet(tmp, engine="pyarrow", index=False))

    def read(self, keys: Iterable[str] | None = None) -> pd.DataFrame:
        """The stored rows (only those of ``keys`` when given), one per hash, indexed by hash."""
        wanted = self.done() if keys is None else set(keys) & self.done()
        tables = [pq.read_table(self._part_path(key)) for key in sorted(wanted)]
        if not tables:
            return pd.DataFrame(columns=list(META_COLUMNS)).set_index(HASH_COL)
        try:  # Arrow's concatenation is the fast path; it widens int to float and fills absent columns with null
            table = pa.concat_tables(tables, promote_options="permissive").to_pandas()
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # a metric that is a number in one run and text in another
            table = pd.concat([t.to_pandas() for t in tables], ignore_index=True)
        return table.drop_duplicates(subset=HASH_COL, keep="first").set_index(HASH_COL)
