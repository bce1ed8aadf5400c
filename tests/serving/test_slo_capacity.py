"""SLOs, goodput and the capacity search (issue 15), on a toy single-server system with a closed form.

The toy: a fake GPU system whose KV cache holds one request at a time, serving one-token requests (a
prefill of P tokens, nothing to decode), so each request occupies the server for the same time D and the
replica is a first-come-first-served single server with deterministic service. With near-deterministic
arrivals (gamma gaps, CV 0.001, the least allowed) it is nearly a D/D/1 queue; the tests derive each
request's TTFT from the Lindley recursion (start = max(arrival, previous finish), finish = start + D) and the SLO verdict from it, without
the engine.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from l3sim.errors import ConfigError
from l3sim.experiments.capacity import FOUND, NO_RATE, CapacitySearch, SearchSettings, measurement_window, search
from l3sim.serving.simulate import serve
from l3sim.serving.slo import evaluate_slo, parse_slo
from l3sim.spec.workload import WorkloadSpec
from l3sim.workload import load_requests
from serving_fakes import Req, fake_system, run_spec

PROMPT = 100
CAPACITY_TOKENS = 160  # 10 blocks of 16: one 100-token request fits (7 blocks), two do not
SETTINGS = SearchSettings(requests=60, seeds=1, rel_tol=0.02)
WORKLOAD = WorkloadSpec(name="toy", prompt_mean=PROMPT, prompt_std=0.0, output_mean=1.0, output_std=0.0)


def _service_time() -> float:
    """D: the time one lone request holds the server (its TTFT when it arrives to an idle system)."""
    result = serve(fake_system(CAPACITY_TOKENS), [Req(0, 0.0, PROMPT, 1)], run_spec())
    return float(result.requests_table["ttft_s"][0])


D = _service_time()


def _arrivals(rate: float, seed: int = 0) -> list:
    return load_requests(WORKLOAD, SETTINGS.requests, seed, f"gamma:{rate!r}:0.001")


def _window(arrival_s: np.ndarray) -> tuple[float, float]:
    return measurement_window(arrival_s, SETTINGS.warmup_fraction, SETTINGS.cooldown_fraction)


def _toy_probe(slo: str):
    """A probe on the toy: serve at ``rate``, judge the SLOs on the measurement window."""
    targets = parse_slo(slo)

    def probe(rate: float) -> tuple[bool, bool]:
        requests = _arrivals(rate)
        window = _window(np.array([r.arrival_s for r in requests]))
        result = serve(fake_system(CAPACITY_TOKENS), requests, run_spec(), measure=window)
        return evaluate_slo(result, targets, window).met, True

    return probe


def _closed_form_met(rate: float, ttft_target: float) -> bool:
    """The D/D/1 verdict of ``ttft_p99 <= ttft_target`` at ``rate``, from the Lindley recursion."""
    arrival = np.array([r.arrival_s for r in _arrivals(rate)])
    finish = np.empty_like(arrival)
    previous = -math.inf
    for i, a in enumerate(arrival):
        previous = finish[i] = max(a, previous) + D
    start, end = _window(arrival)
    measured = (arrival >= start) & (arrival < end)
    ttft = (finish - arrival)[measured]
    return float(np.quantile(ttft, 0.99, method="inverted_cdf")) <= ttft_target * (1 + 1e-12)


def test_the_toy_is_a_single_deterministic_server():
    # two requests at once: the second waits for the first, so its TTFT is 2 D
    result = serve(fake_system(CAPACITY_TOKENS), [Req(0, 0.0, PROMPT, 1), Req(1, 0.0, PROMPT, 1)], run_spec())
    assert sorted(result.requests_table["ttft_s"]) == pytest.approx([D, 2 * D], rel=1e-9)


@pytest.mark.parametrize("factor", [1.5, 3.0, 8.0])
def test_capacity_brackets_the_closed_form_answer(factor):
    target = factor * D
    state = search(1.0 / D, SETTINGS, _toy_probe(f"ttft_p99={target!r}s"))
    assert state.outcome == FOUND
    assert _closed_form_met(state.lo, target)
    assert not _closed_form_met(state.hi, target)
    assert state.hi / state.lo - 1 <= SETTINGS.rel_tol
    # below saturation every TTFT is D: the capacity is at least the service rate
    assert state.lo >= 1.0 / D * (1 - SETTINGS.rel_tol)


def test_capacity_is_monotone_in_the_slo():
    rates = [search(1.0 / D, SETTINGS, _toy_probe(f"ttft_p99={f * D!r}s")).lo for f in (1.2, 2.0, 4.0, 10.0)]
    assert rates == sorted(rates)
    assert rates[-1] > rates[0]


def test_no_rate_meets_an_slo_below_the_service_time():
    state = search(1.0 / D, SearchSettings(requests=60, seeds=1, max_halvings=2), _toy_probe(f"ttft_p99={0.5 * D!r}s"))
    assert state.outcome == NO_RATE
    assert state.lo is None


def test_a_met_probe_that_is_not_steady_ends_the_search_unsaturated():
    state = CapacitySearch(1.0, SETTINGS)
    state.record(1.0, True, steady=True)
    assert state.next_rate() == 2.0
    state.record(2.0, True, steady=False)
    assert state.outcome == "unsaturated" and state.lo == 2.0 and state.next_rate() is None


@pytest.mark.parametrize("rate", [0.3, 0.9, 1.5, 4.0])
@pytest.mark.parametrize("slo", ["ttft_p50=1e9s", "ttft_p90=2.5s,e2e_p99=3s", "ttft_p99=0.0001s"])
def test_goodput_never_exceeds_throughput(rate, slo):
    requests = _arrivals(rate / D)
    result = serve(fake_system(CAPACITY_TOKENS), requests, run_spec())
    report = evaluate_slo(result, parse_slo(slo))
    assert report.goodput_tok_s <= report.throughput_tok_s
    assert report.throughput_tok_s == pytest.approx(result.throughput_tok_s, rel=1e-12)
    assert 0.0 <= report.met_fraction <= 1.0


def test_goodput_equals_throughput_when_every_request_meets():
    result = serve(fake_system(CAPACITY_TOKENS), _arrivals(2.0 / D), run_spec())
    worst = float(result.requests_table["e2e_s"].max())
    report = evaluate_slo(result, parse_slo(f"ttft_p99={worst * 2!r}s,e2e_p50={worst * 2!r}s"))
    assert report.met and report.met_fraction == 1.0
    assert report.goodput_tok_s == result.throughput_tok_s


def test_per_request_and_run_verdicts_by_hand():
    # TTFTs D, 2D, 3D (three requests at once): p50 = 2D; a target of 2D is met over the run, and 2 of 3
    # requests meet it on their own
    requests = [Req(i, 0.0, PROMPT, 1) for i in range(3)]
    result = serve(fake_system(CAPACITY_TOKENS), requests, run_spec())
    report = evaluate_slo(result, parse_slo(f"ttft_p50={2 * D * (1 + 1e-9)!r}s"))
    assert report.met
    assert report.met_fraction == pytest.approx(2 / 3)
    assert report.goodput_tok_s == pytest.approx(2 / (3 * D), rel=1e-9)
    assert not evaluate_slo(result, parse_slo(f"ttft_p90={2 * D * (1 + 1e-9)!r}s")).met


def test_the_window_keeps_only_measured_token_gaps():
    # request 0 arrives alone and decodes 5 tokens; request 1 arrives later (outside the window)
    requests = [Req(0, 0.0, PROMPT, 5), Req(1, 100.0, PROMPT, 3)]
    whole = serve(fake_system(CAPACITY_TOKENS * 2), requests, run_spec())
    windowed = serve(fake_system(CAPACITY_TOKENS * 2), requests, run_spec(), measure=(0.0, 50.0))
    assert whole.tbt_samples.count == 4 + 2
    assert windowed.tbt_samples.count == 4
    assert windowed.tbt_s == whole.tbt_s  # the run's own metrics keep every request


@pytest.mark.parametrize(
    "text, message",
    [
        ("ttft_p98=2s", "unknown percentile"),
        ("latency_p99=2s", "unknown metric"),
        ("ttft_p99=0s", "positive"),
        ("tbt_p99=-5ms", "positive"),
        ("ttft_p99=2min", "unknown unit"),
        ("ttft_p99", "expected"),
        ("ttft_p99=2s,,tbt_p99=1s", "expected"),
        ("ttft_p99=2s,ttft_p99=3s", "twice"),
    ],
)
def test_bad_slo_strings_are_clear_errors(text, message):
    with pytest.raises(ConfigError, match=message):
        parse_slo(text)


def test_units_convert_to_seconds():
    targets = parse_slo("ttft_p99=2s, tbt_p90=200ms,e2e_p50=1500us")
    assert [(t.name, t.target_s) for t in targets] == [("ttft_p99", 2.0), ("tbt_p90", 0.2), ("e2e_p50", 0.0015)]


def test_probes_left_estimate_counts_the_bisections_still_needed():
    """log2(ln(hi/lo) / ln(1 + rel_tol)) halvings of the bracket's log-width, rounded up (by hand: a factor-2
    bracket at rel_tol 0.1 needs ln 2 / ln 1.1 = 7.27 -> 3 halvings; one at 1.05 / 1.0 needs none)."""
    from l3sim.experiments.capacity import SearchSettings, probes_left_estimate

    settings = SearchSettings(rel_tol=0.1)
    bracket = [{"rate_req_s": 1.0, "met": True}, {"rate_req_s": 2.0, "met": False}]
    assert probes_left_estimate(bracket, settings) == 3
    assert probes_left_estimate([{"rate_req_s": 1.0, "met": True}, {"rate_req_s": 1.05, "met": False}], settings) == 0
    assert probes_left_estimate([{"rate_req_s": 4.0, "met": True}], settings) == 1 + 3, "one more doubling first"
    assert probes_left_estimate([], settings) == 1 + 3
