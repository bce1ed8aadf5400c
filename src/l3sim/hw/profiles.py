"""Importers for measured GPU profiles in Vidur's CSV format (Agrawal et al., MLSys 2024).

Two formats are read:

* ``*_mlp.csv``: the dense operators of one transformer layer. Each row is one
  measurement point (``num_tokens``, ``num_tensor_parallel_workers``, the model
  shape ``n_head, n_kv_head, n_embd, n_expanded_embd, vocab_size,
  use_gated_mlp``) and, per operator ``<op>``, the columns
  ``time_stats.<op>.{min,max,mean,median,std}`` in milliseconds.
* ``*_all_reduce.csv``: NCCL all-reduce timings (``size`` in bytes, as Vidur's
  own predictor reads it: "each token is of size 2 * h bytes").
* ``*_attention.csv``: one layer's attention (Vidur's attention-profile columns,
  as ``tools/gpu_profile.py`` writes them): ``batch_size``,
  ``prefill_chunk_size``, ``kv_cache_size``, ``is_prefill``, the TP degree and
  heads, and ``time_stats.attn_decode.*`` or ``time_stats.attn_prefill.*``.

Both return tidy pandas tables in SI units (seconds), one row per measurement
(and, for the MLP file, per operator). Every malformed cell raises
:class:`~l3sim.errors.TraceFormatError` naming the file, the line (1-based,
header = line 1) and the column; nothing is silently dropped.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from l3sim.errors import ConfigError, TraceFormatError

MS_TO_S = 1e-3
STATISTICS = ("min", "max", "mean", "median", "std")
SHAPE_COLUMNS = ("n_head", "n_kv_head", "n_embd", "n_expanded_embd", "vocab_size")
MLP_KEY_COLUMNS = ("num_tokens", "num_tensor_parallel_workers", *SHAPE_COLUMNS)
ALL_REDUCE_COLUMNS = ("num_workers", "devices_per_node", "size", "collective")
ATTENTION_COLUMNS = ("n_embd", "n_q_head", "n_kv_head", "num_tensor_parallel_workers", "batch_size",
                     "prefill_chunk_size", "kv_cache_size", "is_prefill")
ATTENTION_MEDIANS = {True: "time_stats.attn_prefill.median", False: "time_stats.attn_decode.median"}
_TIME_COLUMN = re.compile(r"^time_stats\.(?P<op>[A-Za-z0-9_]+)\.(?P<stat>[a-z]+)$")
_TRUE, _FALSE = ("true", "1"), ("false", "0")


def _read_text_table(path: str | Path) -> tuple[Path, pd.DataFrame]:
    """The CSV as strings (no type guessing), so every cell can be checked and reported by line."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"profile file not found: {path}")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=True)
    except pd.errors.EmptyDataError:
        raise TraceFormatError(f"{path}: empty file, expected a Vidur profile CSV with a header line") from None
    except pd.errors.ParserError as exc:
        raise TraceFormatError(f"{path}: malformed CSV: {exc}") from None
    except UnicodeDecodeError as exc:
        raise TraceFormatError(f"{path}: not UTF-8 text ({exc.reason})") from None
    if frame.empty:
        raise TraceFormatError(f"{path}: no data rows after the header")
    return path, frame


def _require(path: Path, frame: pd.DataFrame, columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise TraceFormatError(f"{path}: line 1: missing column(s) {', '.join(missing)}")


def _bad(path: Path, frame: pd.DataFrame, column: str, mask: np.ndarray, expected: str) -> TraceFormatError:
    row = int(np.flatnonzero(mask)[0])
    value = frame[column].iloc[row]
    return TraceFormatError(f"{path}: line {row + 2}, column {column!r}: expected {expected}, got {value!r}")


def _positive_ints(path: Path, frame: pd.DataFrame, column: str, lowest: int = 1) -> np.ndarray:
    numbers = pd.to_numeric(frame[column].str.strip(), errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(numbers) | (numbers < lowest) | (numbers != np.round(numbers)) | (numbers > 2**53)
    if bad.any():
        kind = "a positive integer" if lowest == 1 else f"an integer >= {lowest}"
        raise _bad(path, frame, column, bad, f"{kind} (at most 2**53)")
    return numbers.astype(np.int64)


def _nonnegative_floats(path: Path, frame: pd.DataFrame, column: str, rows: np.ndarray | None = None) -> np.ndarray:
    """The column as numbers, each finite and >= 0 (only ``rows`` are checked where given)."""
    numbers = pd.to_numeric(frame[column].str.strip(), errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(numbers) | (numbers < 0)
    if rows is not None:
        bad &= rows
    if bad.any():
        raise _bad(path, frame, column, bad, "a finite number >= 0 (milliseconds)")
    return numbers


def _booleans(path: Path, frame: pd.DataFrame, column: str) -> np.ndarray:
    text = frame[column].str.strip().str.lower()
    bad = ~text.isin(_TRUE + _FALSE).to_numpy()
    if bad.any():
        raise _bad(path, frame, column, bad, "True or False")
    return text.isin(_TRUE).to_numpy()


def _operator_columns(path: Path, frame: pd.DataFrame) -> dict[str, dict[str, str]]:
    """``{op: {stat: column}}`` for every ``time_stats.<op>.<stat>`` column; each op needs its median."""
    ops: dict[str, dict[str, str]] = {}
    for column in frame.columns:
        match = _TIME_COLUMN.match(column)
        if match and match["stat"] in STATISTICS:
            ops.setdefault(match["op"], {})[match["stat"]] = column
    if not ops:
        raise TraceFormatError(f"{path}: line 1: no time_stats.<operator>.<statistic> columns")
    for op, stats in ops.items():
        if "median" not in stats:
            raise TraceFormatError(f"{path}: line 1: operator {op!r} has no time_stats.{op}.median column")
    return ops


def load_vidur_mlp_csv(path: str | Path) -> pd.DataFrame:
    """Read a Vidur ``*_mlp.csv`` into a tidy table, one row per (measurement, operator).

    Columns: ``line`` (CSV line of the measurement), ``num_tokens``, ``tp``,
    the shape columns ``n_head, n_kv_head, n_embd, n_expanded_embd,
    vocab_size, use_gated_mlp``, ``operator`` (Vidur's name, e.g.
    ``attn_pre_proj``) and ``<stat>_s`` for each statistic present (seconds).
    """
    path, frame = _read_text_table(path)
    _require(path, frame, (*MLP_KEY_COLUMNS, "use_gated_mlp"))
    ops = _operator_columns(path, frame)
    keys = {
        "line": np.arange(2, len(frame) + 2),
        "num_tokens": _positive_ints(path, frame, "num_tokens"),
        "tp": _positive_ints(path, frame, "num_tensor_parallel_workers"),
        **{column: _positive_ints(path, frame, column) for column in SHAPE_COLUMNS},
        "use_gated_mlp": _booleans(path, frame, "use_gated_mlp"),
    }
    parts = []
    for op, stats in ops.items():
        part = pd.DataFrame(keys)
        part["operator"] = op
        for stat in STATISTICS:
            if stat in stats:
                part[f"{stat}_s"] = _nonnegative_floats(path, frame, stats[stat]) * MS_TO_S
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def load_vidur_all_reduce_csv(path: str | Path) -> pd.DataFrame:
    """Read a Vidur all-reduce profile: ``line, num_workers, devices_per_node, size_bytes, <stat>_s``.

    Only rows whose ``collective`` is ``all_reduce`` are all-reduce timings;
    any other collective name is an error rather than a silently skipped row.
    """
    path, frame = _read_text_table(path)
    _require(path, frame, ALL_REDUCE_COLUMNS)
    other = ~(frame["collective"].str.strip() == "all_reduce").to_numpy()
    if other.any():
        raise _bad(path, frame, "collective", other, "'all_reduce'")
    table = pd.DataFrame(
        {
            "line": np.arange(2, len(frame) + 2),
            "num_workers": _positive_ints(path, frame, "num_workers"),
            "devices_per_node": _positive_ints(path, frame, "devices_per_node"),
            "size_bytes": _positive_ints(path, frame, "size"),
        }
    )
    ops = _operator_columns(path, frame)
    if "all_reduce" not in ops:
        raise TraceFormatError(f"{path}: line 1: no time_stats.all_reduce.* columns")
    for stat, column in ops["all_reduce"].items():
        table[f"{stat}_s"] = _nonnegative_floats(path, frame, column) * MS_TO_S
    return table


def load_vidur_attention_csv(path: str | Path) -> pd.DataFrame:
    """Read an attention profile: ``line, tp, n_embd, n_q_head, n_kv_head, batch_size, chunk, cached,
    is_prefill, head_dim, median_s``, one row per measurement. A prefill row's time is its
    ``time_stats.attn_prefill.median``, a decode row's its ``time_stats.attn_decode.median`` (the other kind's
    cells may be empty); a prefill row needs a chunk of at least one token."""
    path, frame = _read_text_table(path)
    _require(path, frame, ATTENTION_COLUMNS)
    prefill = _booleans(path, frame, "is_prefill")
    table = pd.DataFrame({
        "line": np.arange(2, len(frame) + 2),
        "tp": _positive_ints(path, frame, "num_tensor_parallel_workers"),
        **{column: _positive_ints(path, frame, column) for column in ("n_embd", "n_q_head", "n_kv_head",
                                                                      "batch_size")},
        "chunk": _positive_ints(path, frame, "prefill_chunk_size", lowest=0),
        "cached": _positive_ints(path, frame, "kv_cache_size", lowest=0),
        "is_prefill": prefill,
    })
    # head_dim is tools/gpu_profile.py's addition; Vidur's files imply hidden size / query heads
    table["head_dim"] = (_positive_ints(path, frame, "head_dim") if "head_dim" in frame.columns
                         else np.maximum(table["n_embd"] // table["n_q_head"], 1))
    if (prefill & (table["chunk"].to_numpy() < 1)).any():
        raise _bad(path, frame, "prefill_chunk_size", prefill & (table["chunk"].to_numpy() < 1),
                   "a chunk of at least 1 token in a prefill row")
    median = np.full(len(frame), np.nan)
    for kind, column in ATTENTION_MEDIANS.items():
        rows = prefill == kind
        if rows.any():
            _require(path, frame, (column,))
            median[rows] = _nonnegative_floats(path, frame, column, rows)[rows] * MS_TO_S
    table["median_s"] = median
    return table
