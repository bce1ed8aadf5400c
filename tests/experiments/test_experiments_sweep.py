"""Sweep files: parsing, grid expansion, ranges, zip groups, precedence and the errors bad input gets."""

from __future__ import annotations

import math
import tomllib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from l3sim.errors import ConfigError
from l3sim.experiments.sweep import load_sweep, parse_sweep, toml_literal

BASE = {"platform": "dgx-a100", "model": "llama-2-7b", "workload": "openr1", "requests": 10}


def sweep_of(grid=None, **tables):
    """A sweep over ``grid``; [base] leaves out whatever top-level field the grid or a zip group varies."""
    varied = set(grid or {}) | {key for group in tables.get("zip", []) for key in group}
    base = {k: v for k, v in BASE.items() if k not in varied}
    return parse_sweep({"base": base, "grid": grid or {}, **tables}, source="t.toml")


def test_grid_is_the_cross_product_in_file_order():
    sweep = sweep_of({"seed": [0, 1, 2], "serving.max_batch_tokens": [1024, 2048]})
    points = sweep.points("fn")
    assert sweep.size == 6 and len(points) == 6
    assert [(p.params["seed"], p.params["serving.max_batch_tokens"]) for p in points] == [
        (s, t) for s in (0, 1, 2) for t in (1024, 2048)
    ]
    for point in points:
        assert point.spec["seed"] == point.params["seed"]
        assert point.spec["serving"]["max_batch_tokens"] == point.params["serving.max_batch_tokens"]
    assert len({p.key for p in points}) == 6


def test_bare_dotted_toml_keys_equal_quoted_ones():
    bare = tomllib.loads("[grid]\nserving.max_batch_tokens = [1, 2]\n")["grid"]
    quoted = tomllib.loads('[grid]\n"serving.max_batch_tokens" = [1, 2]\n')["grid"]
    a, b = sweep_of(bare), sweep_of(quoted)
    assert a.keys == b.keys == ["serving.max_batch_tokens"]
    assert [p.key for p in a.points("f")] == [p.key for p in b.points("f")]


def test_top_level_field_takes_preset_names():
    points = sweep_of({"model": ["llama-2-7b", "llama-2-70b"]}).points("f")
    assert [p.spec["model"]["name"] for p in points] == ["llama-2-7b", "llama-2-70b"]
    assert points[0].spec["model"]["num_layers"] == 32 and points[1].spec["model"]["num_layers"] == 80


def test_zip_group_varies_together_and_crosses_the_grid():
    sweep = sweep_of({"seed": [0, 1]}, zip=[{"model": ["llama-2-7b", "llama-2-70b"], "model.parallel.tp": [1, 8]}])
    points = sweep.points("f")
    assert len(points) == 4
    assert {(p.spec["model"]["name"], p.spec["model"]["parallel"]["tp"]) for p in points} == {
        ("llama-2-7b", 1),
        ("llama-2-70b", 8),
    }


def test_base_set_applies_to_every_point_and_grid_dotted_keys_win_last():
    data = {"base": {**BASE, "set": ["gpu.compute_util=0.5"]}, "grid": {"gpu.mem_util": [0.6, 0.7]}}
    points = parse_sweep(data).points("f")
    assert [p.spec["gpu"]["compute_util"] for p in points] == [0.5, 0.5]
    assert [p.spec["gpu"]["mem_util"] for p in points] == [0.6, 0.7]


def test_short_set_keys_work_in_the_grid_as_in_base_set():
    short = sweep_of({"gpu": ["h100-sxm", "h200"], "tp": [2], "max_batch_tokens": [2048]})
    dotted = sweep_of({"platform.gpu": ["h100-sxm", "h200"], "parallel.tp": [2], "serving.max_batch_tokens": [2048]})
    points = short.points("f")
    assert short.keys == ["gpu", "tp", "max_batch_tokens"]  # the columns keep the names the file uses
    assert [p.spec["platform"]["gpu"]["name"] for p in points] == ["h100-sxm", "h200"]
    assert [(p.spec["parallel"]["tp"], p.spec["serving"]["max_batch_tokens"]) for p in points] == [(2, 2048)] * 2
    assert [p.key for p in points] == [p.key for p in dotted.points("f")]
    # as an override the short key goes after [base].set, as a dotted key does
    data = {"base": {**BASE, "set": ["max_num_seqs=64"]}, "grid": {"dp": [1, 2]}}
    assert [p.overrides for p in parse_sweep(data).points("f")] == [("max_num_seqs=64", "dp=1"),
                                                                     ("max_num_seqs=64", "dp=2")]


def test_a_short_key_and_its_full_path_are_one_key():
    with pytest.raises(ConfigError, match="'parallel.tp'.*set in \\[base\\] and varied"):
        parse_sweep({"base": {**BASE, "set": ["tp=2"]}, "grid": {"parallel.tp": [4]}})
    with pytest.raises(ConfigError, match="'tp'.*set in \\[base\\] and varied"):
        parse_sweep({"base": {**BASE, "set": ["parallel.tp=2"]}, "grid": {"tp": [4]}})
    with pytest.raises(ConfigError, match="'parallel.tp', 'tp'.* set the same field"):
        sweep_of({"tp": [2], "parallel.tp": [4]})


@given(st.integers(0, 50), st.integers(0, 60), st.integers(1, 7))
def test_integer_range_is_inclusive(start, length, step):
    stop = start + length
    sweep = sweep_of({"seed": {"start": start, "stop": stop, "step": step}})
    values = [v for (v,) in sweep.axes[0].steps]
    expected, v = [], start
    while v <= stop:
        expected.append(v)
        v += step
    assert values == expected


def test_float_range_lands_on_decimal_values():
    sweep = sweep_of({"gpu.compute_util": {"start": 0.1, "stop": 0.5, "step": 0.1}})
    assert [v for (v,) in sweep.axes[0].steps] == [0.1, 0.2, 0.3, 0.4, 0.5]


json_values = st.recursive(
    st.one_of(st.integers(-(10**12), 10**12), st.floats(allow_nan=False), st.text(max_size=10), st.booleans()),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=8,
)


@given(json_values)
def test_toml_literal_round_trips(value):
    assert tomllib.loads(f"v = {toml_literal(value)}")["v"] == value


def test_toml_literal_special_floats():
    assert math.isinf(tomllib.loads(f"v = {toml_literal(float('-inf'))}")["v"])
    assert math.isnan(tomllib.loads(f"v = {toml_literal(float('nan'))}")["v"])


# ---- bad input: each error names the key ----


def test_unknown_grid_key_is_named():
    with pytest.raises(ConfigError, match="serving.max_batch_tokenz"):
        sweep_of({"serving.max_batch_tokenz": [1]}).points("f")


def test_unknown_grid_table_is_named():
    with pytest.raises(ConfigError, match="servin"):
        sweep_of({"servin.max_batch_tokens": [1]}).points("f")


def test_unknown_top_level_grid_key_is_named():
    with pytest.raises(ConfigError, match="sede"):
        sweep_of({"sede": [1]}).points("f")


def test_wrong_type_is_named():
    with pytest.raises(ConfigError, match=r"serving\.max_batch_tokens.*'lots'"):
        sweep_of({"serving.max_batch_tokens": [1024, "lots"]}).points("f")


def test_unknown_table_in_file_is_named():
    with pytest.raises(ConfigError, match="grids"):
        parse_sweep({"base": BASE, "grids": {"seed": [1]}})


def test_unknown_output_key_is_named():
    with pytest.raises(ConfigError, match="metric"):
        sweep_of({"seed": [1]}, output={"metric": ["x"]})


@pytest.mark.parametrize(
    "grid, zips, pattern",
    [
        ({}, [], "grid is empty"),
        ({"seed": []}, [], "'seed'.*empty"),
        ({"seed": 3}, [], "'seed'.*list of values"),
        ({"seed": {"start": 5, "stop": 1}}, [], "'seed'.*below start"),
        ({"seed": {"start": 0, "stop": 4, "step": 0}}, [], "'seed'.*positive"),
        ({"seed": {"start": 0, "stop": 4, "by": 2}}, [], "'seed'.*range"),
        ({"seed": {"start": "a", "stop": 4}}, [], "'seed'.*number"),
        ({}, [{"seed": [1, 2], "requests": [1]}], "zip group 1.*equal lengths"),
        ({"seed": [1]}, [{"seed": [2]}], "'seed'.*more than once"),
        ({}, [{}], "zip group 1 is empty"),
    ],
)
def test_bad_grids(grid, zips, pattern):
    with pytest.raises(ConfigError, match=pattern):
        sweep_of(grid, zip=zips)


def test_key_in_base_and_grid_is_an_error():
    with pytest.raises(ConfigError, match="'model'"):
        parse_sweep({"base": BASE, "grid": {"model": ["llama-2-7b"]}})
    with pytest.raises(ConfigError, match="'gpu.mem_util'"):
        parse_sweep({"base": {**BASE, "set": ["gpu.mem_util=0.5"]}, "grid": {"gpu.mem_util": [0.6]}})


def test_plot_must_use_grid_keys_and_listed_metrics():
    with pytest.raises(ConfigError, match=r"plots\[1\]\.x = 'requests'"):
        sweep_of({"seed": [1]}, output={"plots": [{"x": "requests", "y": "m"}]})
    with pytest.raises(ConfigError, match=r"plots\[1\]\.y = 'm'"):
        sweep_of({"seed": [1]}, output={"metrics": ["n"], "plots": [{"x": "seed", "y": "m"}]})


def test_load_sweep_names_the_file_on_bad_toml(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[grid\nseed = [1]\n")
    with pytest.raises(ConfigError, match="bad.toml"):
        load_sweep(path)
    with pytest.raises(ConfigError, match="not found"):
        load_sweep(tmp_path / "missing.toml")
