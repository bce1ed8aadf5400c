"""Vidur profile importer: real files, malformed input with file/line/column errors, fuzzing."""

from __future__ import annotations

import pytest
from gpu_csv_helpers import write_mlp_csv
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from l3sim.errors import ConfigError, TraceFormatError
from l3sim.hw.profiles import load_vidur_all_reduce_csv, load_vidur_mlp_csv


@pytest.mark.shared
@pytest.mark.parametrize("name, rows, shape", [
    ("Llama-2-70b-hf_mlp.csv", 1044, (64, 8, 8192, 28672)),
    ("Qwen-72B_mlp.csv", 1044, (64, 64, 8192, 24576)),
])
def test_real_mlp_files(shared_dir, name, rows, shape):
    table = load_vidur_mlp_csv(shared_dir / "profiles/vidur-a100" / name)
    ops = set(table.operator)
    assert {"attn_pre_proj", "attn_post_proj", "mlp_up_proj", "mlp_act", "mlp_down_proj"} <= ops
    assert len(table) == rows * len(ops)  # one row per (measurement, operator), none dropped
    assert set(table.tp) == {1, 2, 4, 8}
    assert (table.num_tokens.min(), table.num_tokens.max()) == (1, 4096)
    assert tuple(table[["n_head", "n_kv_head", "n_embd", "n_expanded_embd"]].drop_duplicates().iloc[0]) == shape
    assert table.use_gated_mlp.all()
    # Milliseconds became seconds: Llama-2-70B's fused up projection at 4096 tokens, TP1, is ~16 ms (line 2).
    first = table[(table.line == 2) & (table.operator == "mlp_up_proj")].iloc[0]
    assert 0.010 < first.median_s < 0.025 and first.min_s <= first.median_s <= first.max_s


@pytest.mark.shared
def test_real_all_reduce_file(shared_dir):
    table = load_vidur_all_reduce_csv(shared_dir / "profiles/vidur-a100/a100_dgx_all_reduce.csv")
    assert len(table) == 6958
    assert set(table.num_workers) == {2, 4, 8, 16}
    assert (table.median_s > 0).all() and table.size_bytes.max() == 64 * 2**20


def _good(tmp_path):
    return write_mlp_csv(tmp_path / "p_mlp.csv", {(1, 1): {}, (8, 1): {}, (16, 2): {}})


def _replace_cell(path, line, column, value):
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    cells = lines[line - 1].split(",")
    cells[header.index(column)] = value
    lines[line - 1] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("column, value, expected", [
    ("num_tokens", "abc", "positive integer"),
    ("num_tokens", "0", "positive integer"),
    ("num_tokens", "2.5", "positive integer"),
    ("num_tensor_parallel_workers", "", "positive integer"),
    ("use_gated_mlp", "maybe", "True or False"),
    ("time_stats.mlp_act.median", "-1", "finite number"),
    ("time_stats.attn_pre_proj.mean", "nan", "finite number"),
    ("n_embd", "inf", "positive integer"),
])
def test_bad_cell_names_file_line_and_column(tmp_path, column, value, expected):
    path = _good(tmp_path)
    _replace_cell(path, 3, column, value)
    with pytest.raises(TraceFormatError) as info:
        load_vidur_mlp_csv(path)
    message = str(info.value)
    assert str(path) in message and "line 3" in message and repr(column) in message and expected in message


def test_missing_columns_and_files(tmp_path):
    path = _good(tmp_path)
    text = path.read_text().replace("num_tensor_parallel_workers", "tp_workers")
    path.write_text(text)
    with pytest.raises(TraceFormatError, match="line 1: missing column.*num_tensor_parallel_workers"):
        load_vidur_mlp_csv(path)
    no_median = tmp_path / "m.csv"
    no_median.write_text(_good(tmp_path).read_text().replace("time_stats.add.median", "time_stats.add.p50"))
    with pytest.raises(TraceFormatError, match="'add' has no time_stats.add.median"):
        load_vidur_mlp_csv(no_median)
    with pytest.raises(ConfigError, match="not found"):
        load_vidur_mlp_csv(tmp_path / "absent.csv")
    empty = tmp_path / "e.csv"
    empty.write_text("")
    with pytest.raises(TraceFormatError, match="empty"):
        load_vidur_mlp_csv(empty)
    header_only = tmp_path / "h.csv"
    header_only.write_text(_good(tmp_path).read_text().splitlines()[0] + "\n")
    with pytest.raises(TraceFormatError, match="no data rows"):
        load_vidur_mlp_csv(header_only)


def test_ragged_row_is_an_error(tmp_path):
    path = _good(tmp_path)
    path.write_text(path.read_text() + "1,2,3,4,5,6,7,8,9,10," * 20 + "1\n")
    with pytest.raises(TraceFormatError, match="malformed CSV"):
        load_vidur_mlp_csv(path)


def test_other_collective_is_not_silently_skipped(tmp_path):
    path = tmp_path / "ar.csv"
    path.write_text(
        ",time_stats.all_reduce.median,rank,num_workers,size,collective,devices_per_node\n"
        "0,0.05,0,2,2048,all_reduce,2\n1,0.05,0,2,2048,send_recv,2\n"
    )
    with pytest.raises(TraceFormatError, match="line 3, column 'collective'"):
        load_vidur_all_reduce_csv(path)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=400))
def test_fuzzed_bytes_only_raise_l3sim_errors(tmp_path, data):
    path = tmp_path / "fuzz_mlp.csv"
    path.write_bytes(data)
    try:
        load_vidur_mlp_csv(path)
    except (TraceFormatError, ConfigError):
        pass


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(2, 4), st.sampled_from(["num_tokens", "n_head", "use_gated_mlp", "time_stats.add.std"]),
       st.text(alphabet="-x.e0123456789 ", max_size=6))
def test_fuzzed_cells_load_or_raise_with_line(tmp_path, line, column, value):
    path = _good(tmp_path)
    _replace_cell(path, line, column, value)
    try:
        table = load_vidur_mlp_csv(path)
    except TraceFormatError as exc:
        assert f"line {line}" in str(exc)
    else:
        assert len(table) == 3 * table.operator.nunique()
