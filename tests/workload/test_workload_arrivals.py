"""Arrival strings, arrival processes and load_requests' ordering and determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l3sim.errors import ConfigError
from l3sim.spec.presets import load_preset_data
from l3sim.spec.workload import WorkloadSpec
from l3sim.workload import ArrivalProcess, arrival_times, load_requests, parse_arrival

OPENR1 = WorkloadSpec.parse(load_preset_data("workloads", "openr1")[0])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("offline", ArrivalProcess("offline")),
        ("poisson:2.5", ArrivalProcess("poisson", rate_per_s=2.5)),
        (" poisson:1e-3 ", ArrivalProcess("poisson", rate_per_s=1e-3)),
        ("gamma:4:2", ArrivalProcess("gamma", rate_per_s=4.0, cv=2.0)),
        ("trace", ArrivalProcess("trace", scale=1.0)),
        ("trace:0.5", ArrivalProcess("trace", scale=0.5)),
    ],
)
def test_parse_arrival(text: str, expected: ArrivalProcess) -> None:
    assert parse_arrival(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "Offline", "offline:1", "poisson", "poisson:", "poisson:0", "poisson:-1", "poisson:x", "poisson:nan",
     "poisson:inf", "poisson:1:2", "gamma:1", "gamma:1:0", "trace:0", "trace:1:2", "burst:3"],
)
def test_bad_arrival_strings(text: str) -> None:
    with pytest.raises(ConfigError, match="arrival"):
        parse_arrival(text)


def test_poisson_gaps_are_exponential_with_mean_one_over_rate() -> None:
    n, rate = 200_001, 4.0
    times = arrival_times(parse_arrival(f"poisson:{rate}"), n, np.random.default_rng(1))
    gaps = np.diff(times)
    assert times[0] == 0.0 and np.all(gaps >= 0)
    # exponential: mean 1/rate, SE (1/rate)/sqrt(n); std equals the mean (kurtosis 9: SE(std) = sqrt(8)/(2 sqrt n))
    assert abs(gaps.mean() - 1 / rate) <= 5 * (1 / rate) / math.sqrt(len(gaps))
    assert abs(gaps.std() - 1 / rate) <= 5 * (1 / rate) * math.sqrt(8) / (2 * math.sqrt(len(gaps)))
    # memorylessness: P(gap > 2/rate) = e^-2
    assert abs(np.mean(gaps > 2 / rate) - math.exp(-2)) <= 5 * math.sqrt(math.exp(-2) * (1 - math.exp(-2)) / len(gaps))


def test_gamma_gaps_have_the_requested_cv() -> None:
    n, rate, cv = 200_001, 2.0, 3.0
    gaps = np.diff(arrival_times(parse_arrival(f"gamma:{rate}:{cv}"), n, np.random.default_rng(2)))
    mean, std = 1 / rate, cv / rate
    kurtosis = 3 + 6 * cv**2
    assert abs(gaps.mean() - mean) <= 5 * std / math.sqrt(len(gaps))
    assert abs(gaps.std() - std) <= 5 * std * math.sqrt(kurtosis - 1) / (2 * math.sqrt(len(gaps)))


def test_offline_all_at_zero_and_ids_follow_sampling_order() -> None:
    requests = load_requests(OPENR1, 50, seed=4)
    assert all(r.arrival_s == 0.0 for r in requests)
    assert [r.id for r in requests] == list(range(50))


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    count=st.integers(1, 300),
    arrival=st.sampled_from(["offline", "poisson:0.5", "poisson:100", "gamma:3:0.3"]),
)
def test_requests_are_sorted_numbered_and_deterministic(seed: int, count: int, arrival: str) -> None:
    requests = load_requests(OPENR1, count, seed, arrival)
    assert len(requests) == count and [r.id for r in requests] == list(range(count))
    arrivals = [r.arrival_s for r in requests]
    assert arrivals == sorted(arrivals) and arrivals[0] == 0.0
    assert all(r.prompt_tokens >= 1 and r.output_tokens >= 1 for r in requests)
    assert load_requests(OPENR1, count, seed, arrival) == requests


def test_different_seeds_differ() -> None:
    assert load_requests(OPENR1, 20, 1, "poisson:1") != load_requests(OPENR1, 20, 2, "poisson:1")


def test_trace_arrival_needs_a_trace() -> None:
    with pytest.raises(ConfigError, match="needs a trace"):
        load_requests(OPENR1, 10, 0, "trace")


@pytest.mark.parametrize("count", [None, 0, -3])
def test_synthetic_count_must_be_positive(count) -> None:
    with pytest.raises(ConfigError, match="count"):
        load_requests(OPENR1, count, 0)


def test_trace_rows_with_poisson_arrivals_keep_trace_order(tmp_path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("arrival_s,prompt_tokens,output_tokens\n" + "".join(f"{i},{i + 1},1\n" for i in range(20)))
    workload = WorkloadSpec(name="t", kind="trace", path=str(path))
    requests = load_requests(workload, None, 0, "poisson:10")
    assert [r.prompt_tokens for r in requests] == list(range(1, 21))
    assert requests[0].arrival_s == 0.0 and requests[-1].arrival_s > 0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "x", "prompt_mean": 1, "prompt_std": 1, "output_mean": 1}, "output_std"),
        ({"name": "x", "kind": "trace"}, "needs 'path'"),
        ({"name": "x", "kind": "trace", "path": "a.csv", "prompt_mean": 3}, "prompt_mean"),
        ({"name": "x", "prompt_mean": 1, "prompt_std": 1, "output_mean": 1, "output_std": 1, "path": "a"}, "path"),
        ({"name": "x", "prompt_mean": 1, "prompt_std": 1, "output_mean": 1, "output_std": 1,
          "length_distribution": "normal"}, "length_distribution"),
        ({"name": "x", "prompt_mean": 1, "prompt_std": 1, "output_mean": 1, "output_std": 1, "length_scale": 0},
         "length_scale"),
    ],
)
def test_workload_spec_rejects_inconsistent_fields(data: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        WorkloadSpec.parse(data, source="w")
