"""Fitted models kept on disk between processes, keyed by the content hash of what they were fitted on.

The way numba caches compiled code: the first process that fits a model (the L3 scheduler's GPU forest and
PIM linear model, ``serving.predictors``) stores its numbers; a later process asked to fit the same model to
the same data loads them instead, without importing scikit-learn or refitting. The key is a SHA-256 over
everything the fit depends on (the kind of model, its settings, the library versions, the data's shape,
type and bytes), so a hit gives exactly the numbers a fresh fit would, and any change to the data makes a
new entry rather than a stale answer.

- Folder: ``$L3SIM_CACHE_DIR`` if set and not empty; else ``$XDG_CACHE_HOME/l3sim``; else
  ``~/.cache/l3sim``. ``L3SIM_CACHE_DIR=off`` turns the cache off (every fit is done afresh, nothing is
  written). Entries are ``<folder>/<kind>/<key>.npz``; the folder may be deleted at any time.
- An entry holds plain numeric arrays only (``numpy.savez_compressed``: a forest's node table of small
  integers and thresholds shrinks about fourfold, to ~0.3 MB, for ~4 ms more per load), read with
  ``allow_pickle=False``: loading an entry never runs code, whoever wrote the file. Each kind checks what
  it loads (``check``) before use.
- Written atomically (``outputs.atomic_write``), so a reader sees a whole entry or none. An entry that
  cannot be read or fails its check is reported (:class:`CacheWarning`), rebuilt and rewritten; a folder
  that cannot be written is reported once, the process stops trying to write there, and the run goes on
  with the fresh fits.
"""

from __future__ import annotations

import hashlib
import os
import warnings
import zipfile
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np

from l3sim.errors import OutputError
from l3sim.outputs import atomic_write

CACHE_ENV = "L3SIM_CACHE_DIR"
DISABLED = "off"
# Bump when the layout of an entry changes: older entries are then simply never asked for.
FORMAT_VERSION = 1

Arrays = dict[str, np.ndarray]

# Cache folders this process failed to write to: reported once, not written again (a run makes a dozen fits).
_unwritable: set[Path] = set()


class CacheWarning(UserWarning):
    """A cache entry could not be read or written; the run goes on with a fresh fit."""


def cache_dir() -> Path | None:
    """The cache folder (module docstring), or None when ``L3SIM_CACHE_DIR=off``."""
    chosen = os.environ.get(CACHE_ENV, "")
    if chosen.strip().lower() == DISABLED:
        return None
    if chosen:
        return Path(chosen).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "l3sim"


@lru_cache(maxsize=None)
def library_version(distribution: str) -> str:
    """The installed version of ``distribution`` (for cache keys), read without importing the library."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "absent"


def content_key(*parts: str | int | float | np.ndarray) -> str:
    """SHA-256 (hex) over ``parts`` in order: strings and numbers by their repr, arrays by dtype, shape and
    C-order bytes (so [1, 2] and [[1], [2]] differ), each part tagged with its kind and length."""
    digest = hashlib.sha256(f"l3sim-cache-{FORMAT_VERSION}".encode())
    for part in parts:
        if isinstance(part, np.ndarray):
            data = np.ascontiguousarray(part)
            head = f"array:{data.dtype.str}:{data.shape}".encode()
            body = data.tobytes()
        else:
            head, body = f"{type(part).__name__}".encode(), repr(part).encode()
        digest.update(len(head).to_bytes(8, "little") + head + len(body).to_bytes(8, "little"))
        digest.update(body)
    return digest.hexdigest()


def _load(path: Path) -> Arrays:
    with np.load(path, allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


def cached_arrays(kind: str, key: str, build: Callable[[], Arrays], check: Callable[[Arrays], None]) -> Arrays:
    """The arrays stored under ``kind``/``key``, else ``build()``'s (then stored).

    ``check(arrays)`` raises ValueError when loaded arrays are not a valid entry of ``kind`` (names, types,
    shapes, ranges); such an entry, or one that cannot be read, is reported and rebuilt.
    """
    folder = cache_dir()
    if folder is None:
        return build()
    path = folder / kind / f"{key}.npz"
    if path.is_file():
        try:
            arrays = _load(path)
            check(arrays)
            return arrays
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            warnings.warn(f"l3sim cache: entry {path} is unusable ({exc}); fitting afresh and rewriting it",
                          CacheWarning, stacklevel=2)
    arrays = build()
    if folder in _unwritable:
        return arrays
    try:
        atomic_write(path, lambda tmp: np.savez_compressed(tmp, **arrays), what="cache entry")
    except OutputError as exc:
        _unwritable.add(folder)
        warnings.warn(f"l3sim cache: {exc}; not writing to {folder} again in this process (set "
                      f"{CACHE_ENV}={DISABLED} to turn the cache off)", CacheWarning, stacklevel=2)
    return arrays
