"""Ring all-reduce: closed form, and agreement with the measured DGX-A100 NCCL timings."""

from __future__ import annotations

import numpy as np
import pytest
from gpu_csv_helpers import run_spec

from l3sim.hw.gpu import GPUCostModel
from l3sim.hw.gpu.collectives import ring_all_reduce_time_s
from l3sim.hw.profiles import load_vidur_all_reduce_csv
from l3sim.spec.run import GPUCostSpec


def test_ring_closed_form():
    assert ring_all_reduce_time_s(1e6, 1, 1e9, 1e-5) == 0.0
    assert ring_all_reduce_time_s(0, 8, 1e9, 1e-5) == 0.0
    assert ring_all_reduce_time_s(8e6, 8, 1e9, 1e-5) == pytest.approx(1e-5 + 2 * 7 / 8 * 8e6 / 1e9)
    assert ring_all_reduce_time_s(4e6, 2, 1e9, 0.0) == pytest.approx(4e6 / 1e9)


def test_cost_model_charges_two_all_reduces_per_layer():
    spec = run_spec("gpt-175b")
    n, h = 1000, 12288
    bw = 600e9 / 2 * spec.gpu.nvlink_util
    per_call = spec.gpu.allreduce_latency_s + 2 * 7 / 8 * n * h * 2 / bw
    assert GPUCostModel(spec).fc_breakdown_s(n, 0)["all_reduce"] == pytest.approx(2 * 96 * per_call, rel=1e-12)


@pytest.mark.shared
def test_defaults_track_measured_nccl_for_large_messages(shared_dir):
    table = load_vidur_all_reduce_csv(shared_dir / "profiles/vidur-a100/a100_dgx_all_reduce.csv")
    cost = GPUCostSpec()
    for tp in (2, 4, 8):
        rows = table[(table.num_workers == tp) & (table.devices_per_node == tp) & (table.size_bytes >= 2**20)]
        model = ring_all_reduce_time_s(rows.size_bytes.to_numpy(float), tp, 300e9 * cost.nvlink_util,
                                       cost.allreduce_latency_s)
        error = model / rows.median_s.to_numpy() - 1
        assert np.median(np.abs(error)) < 0.2, tp
