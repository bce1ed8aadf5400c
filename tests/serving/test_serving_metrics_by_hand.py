"""The metric definitions of ``serving/metrics.py`` and ``RunResult.to_dict`` by hand: shares snapped only
within rounding, bubbles of the GPU and of the attention stage, busy shares of replicas, the JSON's keys."""

from __future__ import annotations

import math

import pytest
from serving_fakes import Req, fake_system, run_spec

from l3sim.serving import serve
from l3sim.serving.metrics import SHARE_ROUNDING, _bubbles, _share


@pytest.mark.parametrize(("value", "expected"), [
    (-SHARE_ROUNDING / 2, 0.0), (1.0 + SHARE_ROUNDING / 2, 1.0),  # rounding excursions: snapped
    (-2 * SHARE_ROUNDING, -2 * SHARE_ROUNDING), (1.0 + 2 * SHARE_ROUNDING, 1.0 + 2 * SHARE_ROUNDING),  # kept
    (-SHARE_ROUNDING, -SHARE_ROUNDING), (1.0 + SHARE_ROUNDING, 1.0 + SHARE_ROUNDING),  # the bounds: kept
    (0.0, 0.0), (1.0, 1.0), (0.375, 0.375),
])
def test_share_snaps_only_rounding_excursions(value, expected):
    assert _share(value) == expected


def test_bubbles_of_the_gpu_and_of_the_attention_stage():
    assert _bubbles({"gpu": 3.0}, 0.0) == {} and _bubbles({"gpu": 3.0}, -1.0) == {}
    assert _bubbles({"gpu": 3.0}, 4.0) == {"gpu": 0.25}
    assert _bubbles({}, 4.0) == {"gpu": 1.0}
    # the attention stage is its compute plus the PCIe on its critical path
    assert _bubbles({"gpu": 2.0, "attention": 1.0, "pcie": 0.5}, 4.0) == {"gpu": 0.5, "attention": 0.625}
    assert _bubbles({"gpu": 2.0, "attention": 1.0}, 4.0) == {"gpu": 0.5, "attention": 0.75}


def test_busy_share_counts_every_replica_over_the_makespan():
    """Two replicas, one request each, the second arriving 10 s later: the GPU works 2 x (one request's time)
    over a makespan of 10 s + that time, and idles nowhere while it iterates (bubble 0)."""
    alone = serve(fake_system(10_000), [Req(0, 0.0, 30, 6)], run_spec())
    work = alone.makespan_s
    result = serve(fake_system(10_000), [Req(0, 0.0, 30, 6), Req(1, 10.0, 30, 6)], run_spec('arrival="trace"', dp=2))
    assert result.makespan_s == pytest.approx(10.0 + work, rel=1e-12)
    assert result.busy_fraction["gpu"] == pytest.approx(2 * work / (2 * (10.0 + work)), rel=1e-12)
    assert result.bubble_fraction == {"gpu": 0.0}
    assert result.pcie_share == 0.0


def test_to_dict_holds_every_metric_under_its_name():
    result = serve(fake_system(800), [Req(0, 0.0, 30, 6), Req(1, 0.5, 900, 4), Req(2, 0.2, 20, 3)],
                   run_spec('arrival="trace"'))
    data = result.to_dict()
    assert list(data) == [
        "system", "scheduler", "model", "workload", "tp", "dp", "requests", "assumptions", "requests_served",
        "requests_never_fit", "never_fit_ids", "output_tokens", "makespan_s", "throughput_tok_s",
        "steady_throughput_tok_s", "avg_batch_size", "iterations", "ttft_s", "tbt_s", "e2e_s",
        "iteration_latency_s", "kv_capacity_tokens", "kv_util_mean", "kv_util_peak", "preemptions",
        "busy_fraction", "bubble_fraction", "pcie_share", "aggregates", "oom", "oom_reason", "warnings"]
    assert data["requests_never_fit"] == 1 and data["never_fit_ids"] == [1] and data["requests_served"] == 2
    for name, value in data.items():
        if name not in ("requests_never_fit",):
            attribute = getattr(result, name)
            assert value == attribute or (isinstance(value, float) and math.isnan(value) and math.isnan(attribute))
            if isinstance(value, (dict, list)):
                assert value is not attribute  # a copy: editing the JSON leaves the result as it was
    assert data["output_tokens"] == 9 and data["warnings"] and "1 request(s)" in data["warnings"][0]


def test_never_fit_warning_names_the_first_twenty_and_the_capacity():
    """22 requests too long for a 800-token cache (KV blocks of 16 tokens: 800 usable): the warning names the
    first 20 ids and ends with ' ...'; 20 of them name all, without it."""
    def never_fitting(count):
        return [Req(i, 0.0, 900 + i, 2) for i in range(count)] + [Req(100, 0.0, 10, 2)]

    result = serve(fake_system(800), never_fitting(22), run_spec())
    (warning,) = result.warnings
    assert warning == ("22 request(s) can never fit the KV cache of one replica (800 tokens usable) and were not "
                       "served: ids " + ", ".join(str(i) for i in range(20)) + " ...")
    assert result.kv_capacity_tokens == 800 and result.aggregates["output_tokens"] == 2.0
    (warning,) = serve(fake_system(800), never_fitting(20), run_spec()).warnings
    assert warning.endswith("ids " + ", ".join(str(i) for i in range(20)))
