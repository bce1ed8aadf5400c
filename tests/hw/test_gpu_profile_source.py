"""cost_source = "profile": exact at measured points, linear between, roofline-shaped outside, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from gpu_csv_helpers import roofline_spec, run_spec, write_mlp_csv
from hypothesis import given, settings
from hypothesis import strategies as st

from l3sim.errors import ConfigError
from l3sim.hw.gpu import GPUCostModel

# Medians in ms at (num_tokens, tp) for the five FC kernels; deliberately not roofline-shaped.
POINTS = {
    (1, 4): {"attn_pre_proj": 0.1, "attn_post_proj": 0.05, "mlp_up_proj": 0.4, "mlp_act": 0.01, "mlp_down_proj": 0.2},
    (64, 4): {"attn_pre_proj": 0.3, "attn_post_proj": 0.15, "mlp_up_proj": 1.0, "mlp_act": 0.02, "mlp_down_proj": 0.6},
    (64, 4, "dup"): {},
    (512, 4): {"attn_pre_proj": 0.9, "attn_post_proj": 0.5, "mlp_up_proj": 3.0, "mlp_act": 0.1, "mlp_down_proj": 1.5},
    (512, 2): {"attn_pre_proj": 9.0, "attn_post_proj": 9.0, "mlp_up_proj": 9.0, "mlp_act": 9.0, "mlp_down_proj": 9.0},
}
LAYERS = 80  # llama-2-70b


def _profile(tmp_path, duplicate=None):
    points = {k: v for k, v in POINTS.items() if len(k) == 2}
    path = write_mlp_csv(tmp_path / "llama_mlp.csv", points)
    if duplicate is not None:  # a second measurement of (64, 4): the model averages repeated points
        lines = path.read_text().splitlines()
        extra = write_mlp_csv(tmp_path / "extra.csv", {(64, 4): duplicate}).read_text().splitlines()[1]
        path.write_text("\n".join(lines + [extra]) + "\n")
    return path


def _model(path, **fields):
    overrides = ['gpu.cost_source="profile"', f'gpu.profile_path="{path}"']
    return GPUCostModel(run_spec("llama-2-70b", overrides, **fields))


def _expected(point, group):
    kernels = {"qkv_proj": ["attn_pre_proj"], "out_proj": ["attn_post_proj"],
               "ffn": ["mlp_up_proj", "mlp_act", "mlp_down_proj"]}[group]
    return sum(POINTS[point][k] for k in kernels) * 1e-3 * LAYERS


def test_exact_at_measured_points(tmp_path):
    cost = _model(_profile(tmp_path))
    for tokens in (1, 64, 512):
        parts = cost.fc_breakdown_s(tokens, 0)
        for group in ("qkv_proj", "out_proj", "ffn"):
            assert parts[group] == pytest.approx(_expected((tokens, 4), group), rel=1e-12)


def test_repeated_points_are_averaged(tmp_path):
    doubled = {k: 2 * v for k, v in POINTS[(64, 4)].items()}
    cost = _model(_profile(tmp_path, duplicate=doubled))
    assert cost.fc_breakdown_s(64, 0)["ffn"] == pytest.approx(1.5 * _expected((64, 4), "ffn"), rel=1e-12)


@settings(max_examples=30, deadline=None)
@given(st.floats(64, 512))
def test_linear_between_points(tmp_path_factory, tokens):
    cost = _model(_profile(tmp_path_factory.mktemp("p")))
    w = (tokens - 64) / (512 - 64)
    expected = (1 - w) * _expected((64, 4), "qkv_proj") + w * _expected((512, 4), "qkv_proj")
    assert cost.fc_breakdown_s(tokens, 0)["qkv_proj"] == pytest.approx(expected, rel=1e-9)


def test_outside_range_follows_roofline_ratio_and_is_continuous(tmp_path):
    measured = _model(_profile(tmp_path))
    roofline = GPUCostModel(roofline_spec("llama-2-70b"))
    edge_m, edge_r = measured.fc_breakdown_s(512, 0)["ffn"], roofline.fc_breakdown_s(512, 0)["ffn"]
    for tokens in (513, 2048, 8192):
        ratio = roofline.fc_breakdown_s(tokens, 0)["ffn"] / edge_r
        assert measured.fc_breakdown_s(tokens, 0)["ffn"] == pytest.approx(edge_m * ratio, rel=1e-9)
    # LM head and all-reduce are not in a Vidur MLP profile: they come from the model in both sources.
    a, b = measured.fc_breakdown_s(100, 100), roofline.fc_breakdown_s(100, 100)
    assert a["lm_head"] == b["lm_head"] and a["all_reduce"] == b["all_reduce"]
    assert measured.fc_time_s(0, 0) == 0.0
    np.testing.assert_allclose(measured.fc_time_s(np.array([1, 64, 512]), 0),
                               [measured.fc_time_s(n, 0) for n in (1, 64, 512)])


def test_mismatches_are_config_errors(tmp_path):
    path = _profile(tmp_path)
    with pytest.raises(ConfigError, match="no measurements for model 'qwen-72b'"):
        GPUCostModel(run_spec("qwen-72b", ['gpu.cost_source="profile"', f'gpu.profile_path="{path}"']))
    with pytest.raises(ConfigError, match=r"no measurements at tp=8; measured TP degrees: \[2, 4\]"):
        _model(path, parallel={"tp": 8, "dp": 1})
    with pytest.raises(ConfigError, match="needs gpu.profile_path"):
        GPUCostModel(run_spec("llama-2-70b", ['gpu.cost_source="profile"']))


@pytest.mark.shared
def test_real_profile_exact_at_a_measured_point(shared_dir):
    from l3sim.hw.profiles import load_vidur_mlp_csv

    path = shared_dir / "profiles/vidur-a100/Llama-2-70b-hf_mlp.csv"
    table = load_vidur_mlp_csv(path)
    rows = table[(table.tp == 4) & (table.num_tokens == 1000)]
    ffn_ms = rows[rows.operator.isin(["mlp_up_proj", "mlp_act", "mlp_down_proj"])].median_s.sum()
    assert _model(path).fc_breakdown_s(1000, 0)["ffn"] == pytest.approx(ffn_ms * LAYERS, rel=1e-12)
