"""Closed-loop arrivals (``closed:N``) and the steady-window throughput, against hand derivations."""

from __future__ import annotations

import numpy as np
import pytest
from serving_fakes import FakeCost, Req, fake_system, run_spec

from l3sim.errors import ConfigError
from l3sim.serving import serve
from l3sim.workload.arrival import parse_arrival

COST = FakeCost(kv_capacity_bytes=0)


def _prefill_s(tokens: int, requests: int, p: int) -> float:
    """One iteration prefilling ``requests`` prompts of p tokens whole (FakeCost's formulas)."""
    attention = float(COST.prefill_attention_time_s(np.array([p]), np.array([0]))[0])
    return COST.fc_time_s(tokens, requests) + requests * attention


@pytest.mark.parametrize("text", ["closed:0", "closed:-2", "closed:1.5", "closed:", "closed:x", "closed:2:3"])
def test_closed_loop_needs_a_whole_number_of_at_least_one(text: str) -> None:
    with pytest.raises(ConfigError, match="closed"):
        parse_arrival(text)


def test_closed_loop_parses_its_count() -> None:
    assert parse_arrival("closed:12").in_flight == 12


def test_closed_loop_releases_one_request_per_finish() -> None:
    outputs = [5, 40, 9, 17, 3, 28, 11, 2, 33, 6]
    reqs = [Req(i, 0.0, 20 + 3 * i, o) for i, o in enumerate(outputs)]
    n_in = 3
    table = serve(fake_system(100_000), reqs, run_spec(f"arrival=closed:{n_in}")).requests_table
    arrival, finish = table["arrival_s"].to_numpy(), (table["arrival_s"] + table["e2e_s"]).to_numpy()
    assert np.all(arrival[:n_in] == 0.0)
    # Request n_in + j arrives at the (j + 1)-th finish, in id order.
    assert np.array_equal(arrival[n_in:], np.sort(finish)[: len(reqs) - n_in])
    # Hence exactly n_in requests are in the system at every arrival instant while requests remain to
    # release (at the last one two requests finish together and only one is left to take their places).
    checked = [t for t in arrival if np.sum(finish <= t) <= len(reqs) - n_in]
    assert len(checked) == len(reqs) - 1
    for t in checked:
        assert int(np.sum((arrival <= t) & (finish > t))) == n_in


def test_closed_loop_closed_form_equals_stepping() -> None:
    rng = np.random.default_rng(3)
    reqs = [Req(i, 0.0, int(rng.integers(1, 60)), int(rng.integers(1, 80))) for i in range(25)]
    results = [serve(fake_system(2_000), reqs, run_spec(f"serving.stepping={mode}", "arrival=closed:6"))
               for mode in ('"closed-form"', '"per-iteration"')]
    for name in ("makespan_s", "throughput_tok_s", "steady_throughput_tok_s", "iterations", "preemptions"):
        assert getattr(results[0], name) == pytest.approx(getattr(results[1], name), rel=1e-9), name


def test_steady_equals_makespan_throughput_when_the_run_never_drains() -> None:
    # One output token each: a request is admitted, prefilled and finished in one iteration, and a
    # closed loop releases the next at once, so every iteration starts with requests waiting.
    n_in, p, count = 2, 30, 8
    reqs = [Req(i, 0.0, p, 1) for i in range(count)]
    result = serve(fake_system(100_000), reqs, run_spec(f"arrival=closed:{n_in}"))
    iteration_s = _prefill_s(n_in * p, n_in, p)  # every iteration: n_in prompts, n_in tokens out
    assert result.iterations == count // n_in
    assert result.throughput_tok_s == pytest.approx(n_in / iteration_s, rel=1e-12)
    assert result.steady_throughput_tok_s == pytest.approx(n_in / iteration_s, rel=1e-12)


def test_steady_window_ends_with_the_last_admission() -> None:
    # Room for one request at a time (full reservation): the second waits for the first to finish.
    p, o = 37, 25
    reqs = [Req(0, 0.0, p, o), Req(1, 0.0, p, o)]
    result = serve(fake_system(100), reqs, run_spec("serving.kv_reservation=full"))
    first_done = _prefill_s(p, 1, p) + sum(
        COST.fc_time_s(1, 1) + COST.decode_attention_time_s(p + g) for g in range(1, o))
    table = result.requests_table
    assert table["e2e_s"][0] == pytest.approx(first_done, rel=1e-12)
    assert table["ttft_s"][1] == pytest.approx(first_done + _prefill_s(p, 1, p), rel=1e-12)
    # The window closes after the iteration that admitted the second request: o + 1 tokens by then.
    window = first_done + _prefill_s(p, 1, p)
    assert result.steady_throughput_tok_s == pytest.approx((o + 1) / window, rel=1e-12)
    assert result.throughput_tok_s == pytest.approx(2 * o / (2 * first_done), rel=1e-12)


def test_closed_loop_over_replicas_needs_a_place_per_replica() -> None:
    with pytest.raises(ConfigError, match="N >= 2"):
        serve(fake_system(1_000), [Req(i, 0.0, 5, 5) for i in range(4)], run_spec("arrival=closed:1", dp=2))


def test_cli_rejects_an_empty_closed_loop() -> None:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "l3sim", "run", "--requests", "3", "--arrival", "closed:0"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "error: arrival 'closed:0': N (requests kept in the system) must be an integer >= 1" in proc.stderr
