"""The paper's qualitative results, asserted on small runs of the studies themselves (shape, not digits).

- e2e (Fig. 10), GPT-175B: on OpenR1, L3's average batch is several times GPU-only's and L3 out-serves
  GPU-only; CPU offload and R-PIM, bandwidth-starved, serve well below GPU-only; on Dolphin-short (short
  contexts, the GPU's HBM holds the batch) the gain shrinks;
- scalability (Fig. 13): scaling the DIMMs' capacity and bandwidth together beats scaling either alone.

Throughput is compared in the steady window (``steady_throughput_tok_s``: output tokens per second while
requests still wait for admission, docs/serving.md): with a few hundred requests the drain after the last
admission, where the batch shrinks to the longest requests, is a large share of the makespan and would blur
the comparison the paper makes at full batch. Request counts are the smallest at which the shape held, with
a margin, for seeds 0, 1 and 2 (measured: L3 / GPU-only batch 4.2-6.0x and steady throughput 1.9-2.1x on
OpenR1 with 200 requests, 0.97x on Dolphin-short; CPU offload and R-PIM below 0.3x GPU-only; at 2x the
1-rankset host with 100 requests, both 124-149 tok/s against bandwidth alone 107-123 and capacity alone 69-81).
"""

from __future__ import annotations

from functools import partial

import pandas as pd
import pytest

from l3sim.experiments.studies import StudyOptions, run_study

SEED = 0
E2E_REQUESTS = 200
SCALING_REQUESTS = 100
STEADY = "steady_throughput_tok_s"

pytestmark = pytest.mark.slow


def _options(path, requests: int) -> StudyOptions:
    return StudyOptions(path, backend="serial", progress=False, requests=requests)


@pytest.fixture(scope="module")
def e2e(tmp_path_factory) -> pd.DataFrame:
    """The e2e study's table for GPT-175B on OpenR1 and Dolphin-short, four systems, indexed by (workload, system)."""
    import l3sim.experiments.studies.e2e as study

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(study, "MODELS", ["gpt-175b"])
        patch.setattr(study, "WORKLOADS", ["openr1", "dolphin-short"])
        patch.setattr(study, "SYSTEMS", ["gpu-only", "cpu-offload", "r-pim", "l3"])
        table = run_study("e2e", _options(tmp_path_factory.mktemp("e2e"), E2E_REQUESTS)).table
    assert (table["status"] == "ok").all() and not table["oom"].astype(bool).any()
    return table.set_index(["workload", "system"])


def _ratio(table: pd.DataFrame, workload: str, system: str, metric: str) -> float:
    return float(table.loc[(workload, system), metric] / table.loc[(workload, "gpu-only"), metric])


def test_openr1_l3_batch_is_several_times_gpu_only(e2e):
    assert _ratio(e2e, "openr1", "l3", "avg_batch_size") >= 3.0
    assert _ratio(e2e, "openr1", "l3", STEADY) >= 1.5


@pytest.mark.parametrize("system", ["cpu-offload", "r-pim"])
def test_bandwidth_starved_baselines_are_below_gpu_only(e2e, system):
    assert _ratio(e2e, "openr1", system, STEADY) < 0.5
    assert e2e.loc[("openr1", system), "normalized_throughput_tok_s"] < 1.0  # the study's own normalisation


def test_the_gain_shrinks_on_short_contexts(e2e):
    openr1, short = (_ratio(e2e, workload, "l3", STEADY) for workload in ("openr1", "dolphin-short"))
    assert short < 0.75 * openr1
    # the GPU's HBM holds Dolphin-short's batch: L3's capacity buys no larger batch there
    assert _ratio(e2e, "dolphin-short", "l3", "avg_batch_size") < 1.5


def test_scaling_capacity_and_bandwidth_together_beats_either_alone(tmp_path, monkeypatch):
    import l3sim.experiments.studies.scalability as study

    monkeypatch.setattr(study, "FACTORS", (2,))
    monkeypatch.setattr(study, "scaling_points", partial(study.scaling_points, factors=(2,)))  # default bound early
    monkeypatch.setattr(study, "METRICS", [*study.METRICS, STEADY])
    table = run_study("scalability", _options(tmp_path, SCALING_REQUESTS)).table.set_index("mode")
    assert (table["status"] == "ok").all()
    steady = table[STEADY]
    assert steady["both"] > 1.1 * steady["bandwidth"]
    assert steady["both"] > 1.1 * steady["capacity"]
    # the modes are what they say: both doubles capacity and bandwidth, each alone doubles one
    assert table.loc["both", "dimm_capacity_bytes"] == table.loc["capacity", "dimm_capacity_bytes"]
    assert table.loc["both", "bank_pim_bw_bytes_per_s"] == table.loc["bandwidth", "bank_pim_bw_bytes_per_s"]
