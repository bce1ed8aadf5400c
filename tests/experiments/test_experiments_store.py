"""The results store: content keys, atomic parts, reading back, and what a crash leaves."""

from __future__ import annotations

import hashlib
import json
import math
import os

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l3sim.errors import L3SimError
from l3sim.experiments import store as store_mod
from l3sim.experiments.store import ResultStore, canonical_json, flatten_metrics, spec_hash

SPEC = {"model": {"name": "m", "num_layers": 4}, "seed": 3, "gpu": {"compute_util": 0.8}}

scalars = st.one_of(
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.booleans(),
)
names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8)
# metric names the store accepts (its own columns are refused: test_reserved_column_name_is_an_error)
metric_names = names.filter(lambda name: name not in store_mod.META_COLUMNS)


def test_spec_hash_is_sha256_of_the_documented_payload():
    payload = {"schema": store_mod.STORE_SCHEMA, "run_fn": "pkg.fn", "version": "9.9", "spec": SPEC}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    assert spec_hash(SPEC, "pkg.fn", "9.9") == hashlib.sha256(text.encode()).hexdigest()


@given(st.dictionaries(names, scalars, min_size=1, max_size=6))
def test_spec_hash_ignores_key_order(spec):
    reordered = dict(reversed(list(spec.items())))
    assert spec_hash(spec, "f") == spec_hash(reordered, "f")


def test_spec_hash_changes_with_value_function_and_version():
    base = spec_hash(SPEC, "pkg.fn", "1")
    other_value = {**SPEC, "gpu": {"compute_util": 0.8000000000000002}}  # the next float: repr differs
    assert spec_hash(other_value, "pkg.fn", "1") != base
    assert spec_hash(SPEC, "pkg.other", "1") != base
    assert spec_hash(SPEC, "pkg.fn", "2") != base


def test_canonical_json_writes_floats_round_trip():
    value = {"b": 0.1 + 0.2, "a": [1, 2.5]}
    text = canonical_json(value)
    assert text == '{"a":[1,2.5],"b":0.30000000000000004}'
    assert json.loads(text) == value


def test_flatten_metrics_nested_lists_as_json_and_rejects_objects():
    assert flatten_metrics({"a": 1, "t": {"p50": 2.0, "q": {"r": "x"}}}) == {"a": 1, "t.p50": 2.0, "t.q.r": "x"}
    flat = flatten_metrics({"ids": [3, 1], "arr": np.array([0.5, 2.0]), "n": np.int64(7)})
    assert json.loads(flat["ids"]) == [3, 1] and json.loads(flat["arr"]) == [0.5, 2.0] and flat["n"] == 7
    with pytest.raises(L3SimError, match="'t.obj'"):
        flatten_metrics({"t": {"obj": object()}})


@settings(max_examples=25, deadline=None)
@given(st.dictionaries(metric_names, scalars, min_size=1, max_size=5))
def test_put_then_read_returns_the_metrics(tmp_path_factory, metrics):
    store = ResultStore(tmp_path_factory.mktemp("store"))
    store.put("k1", SPEC, metrics, status="ok", elapsed_s=0.5)
    row = store.read().loc["k1"]
    for name, value in metrics.items():
        assert row[name] == value
    assert row["status"] == "ok"
    assert json.loads(row["spec_json"]) == SPEC
    assert store.done() == {"k1"}


def test_rewriting_a_key_keeps_one_row(tmp_path):
    store = ResultStore(tmp_path)
    store.put("k", SPEC, {"x": 1}, status="ok")
    store.put("k", SPEC, {"x": 1}, status="ok")
    assert len(store.read()) == 1


def test_read_deduplicates_by_hash_across_copied_parts(tmp_path):
    store = ResultStore(tmp_path)
    store.put("k", SPEC, {"x": 1}, status="ok")
    (tmp_path / "parts" / "k.parquet").rename(tmp_path / "parts" / "copy.parquet")  # same hash, other file
    store.put("k", SPEC, {"x": 1}, status="ok")
    table = store.read()
    assert list(table.index) == ["k"]


def test_reserved_column_name_is_an_error(tmp_path):
    with pytest.raises(L3SimError, match="status"):
        ResultStore(tmp_path).put("k", SPEC, {"status": 1}, status="ok")


def test_crash_between_write_and_rename_leaves_no_row(tmp_path, monkeypatch):
    store = ResultStore(tmp_path)
    store.put("before", SPEC, {"x": 1}, status="ok")

    def killed(src, dst):
        raise KeyboardInterrupt  # the process dies after writing the temporary file, before the rename

    monkeypatch.setattr(store_mod.os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        store.put("during", SPEC, {"x": 2}, status="ok")
    monkeypatch.undo()
    assert store.done() == {"before"}
    assert list(store.read().index) == ["before"]


def test_stale_temporary_file_from_kill_is_ignored_and_cleaned(tmp_path):
    store = ResultStore(tmp_path)
    store.put("a", SPEC, {"x": 1}, status="ok")
    # what kill -9 during a write leaves: a half-written temporary part
    stale = tmp_path / "parts" / ".tmp-abc.parquet"
    stale.write_bytes(b"PAR1\x00\x00half")
    assert store.done() == {"a"}
    assert list(store.read().index) == ["a"]
    ResultStore(tmp_path)  # reopening removes it
    assert not stale.exists()


def test_read_subset_and_empty(tmp_path):
    store = ResultStore(tmp_path)
    assert store.read().empty
    for key in ("a", "b", "c"):
        store.put(key, SPEC, {"x": ord(key)}, status="ok")
    table = store.read(["c", "a", "zzz"])
    assert sorted(table.index) == ["a", "c"]
    assert table.loc["c", "x"] == ord("c")


def test_error_rows_keep_message_and_nan_metrics(tmp_path):
    store = ResultStore(tmp_path)
    store.put("ok", SPEC, {"x": 1.5}, status="ok")
    store.put("bad", SPEC, None, status="error", error="CapacityError: too big")
    table = store.read()
    assert table.loc["bad", "error"] == "CapacityError: too big"
    assert math.isnan(table.loc["bad", "x"])
    assert pd.api.types.is_float_dtype(table["x"])
    assert not any(name.startswith(".tmp-") for name in os.listdir(tmp_path / "parts"))


def test_mixed_metric_types_across_points_are_kept(tmp_path):
    store = ResultStore(tmp_path)
    store.put("a", SPEC, {"x": 1, "y": "text"}, status="ok")
    store.put("b", SPEC, {"x": 2.5, "y": 3}, status="ok")  # x widens to float; y is text in one, a number in the other
    table = store.read()
    assert table.loc["a", "x"] == 1 and table.loc["b", "x"] == 2.5
    assert table.loc["a", "y"] == "text" and table.loc["b", "y"] == 3
