"""Ring all-reduce: closed form, and agreement with the measured DGX-A100 NCCL timings."""

from __future__ import annotations

import numpy as np
import pytest
from gpu_csv_helpers import run_spec

from l3sim.hw.gpu import GPUCostModel
from l3sim.hw.gpu.collectives import ring_all_reduce_time_s
from l3sim.hw.profiles import load_vidur_all_reduce_csv


def test_ring_closed_form():
    assert ring_all_reduce_time_s(1e6, 1, 1e9, 1e-5) == 0.0
    assert ring_all_reduce_time_s(0, 8, 1e9, 1e-5) == 0.0
    assert ring_all_reduce_time_s(8e6, 8, 1e9, 1e-5) == pytest.approx(1e-5 + 2 * 7 / 8 * 8e6 / 1e9)
    assert ring_all_reduce_time_s(4e6, 2, 1e9, 0.0) == pytest.approx(4e6 / 1e9)


def test_cost_model_charges_two_all_reduces_per_layer():
    spec = run_spec("gpt-175b")
    n, h = 1000, 12288
    bw = 600e9 / 2 * spec.platform.allreduce_bus_efficiency
    per_call = spec.platform.allreduce_latency_s + 2 * 7 / 8 * n * h * 2 / bw
    assert GPUCostModel(spec).fc_breakdown_s(n, 0)["all_reduce"] == pytest.approx(2 * 96 * per_call, rel=1e-12)


def test_gpu_cost_overrides_take_precedence_over_the_platform():
    spec = run_spec("gpt-175b", ["gpu.allreduce_latency_s=1e-5", "gpu.nvlink_util=0.5"])
    per_call = 1e-5 + 2 * 7 / 8 * 1000 * 12288 * 2 / (300e9 * 0.5)
    assert GPUCostModel(spec).fc_breakdown_s(1000, 0)["all_reduce"] == pytest.approx(2 * 96 * per_call, rel=1e-12)
    platform = run_spec("gpt-175b", ["platform.allreduce_latency_s=1e-5", "platform.allreduce_bus_efficiency=0.5"])
    assert GPUCostModel(platform).fc_breakdown_s(1000, 0)["all_reduce"] == pytest.approx(2 * 96 * per_call, rel=1e-12)


@pytest.mark.shared
def test_defaults_track_measured_nccl_for_large_messages(shared_dir):
    table = load_vidur_all_reduce_csv(shared_dir / "profiles/vidur-a100/a100_dgx_all_reduce.csv")
    platform = run_spec("gpt-175b").platform
    errors = []
    for tp in (2, 4, 8):
        rows = table[(table.num_workers == tp) & (table.devices_per_node == tp) & (table.size_bytes > 2**20)]
        model = ring_all_reduce_time_s(rows.size_bytes.to_numpy(float), tp, 300e9 * platform.allreduce_bus_efficiency,
                                       platform.allreduce_latency_s)
        error = np.abs(model / rows.median_s.to_numpy() - 1)
        assert error.mean() <= 0.10, tp  # issue 11's target above 1 MiB, met per TP degree
        errors.append(error)
    assert np.concatenate(errors).mean() <= 0.10
