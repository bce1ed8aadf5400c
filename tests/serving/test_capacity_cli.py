"""``l3sim capacity`` and ``run --slo`` from the command line (issue 15 items 1-2): JSON keys and bad input."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from l3sim.cli import app
from l3sim.errors import ConfigError

SMALL = ["--system", "gpu-only", "--model", "qwen-72b", "--workload", "dolphin-short", "--requests", "20"]


def _invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def test_capacity_json_when_no_rate_meets_the_slo():
    result = _invoke("capacity", *SMALL, "--seeds", "1", "--slo", "ttft_p99=1us", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    for key in ("rate_req_s", "goodput_tok_s", "throughput_tok_s", "binding_slo", "slo_met_fraction", "probes"):
        assert key in data
    assert data["outcome"] == "no-rate" and data["rate_req_s"] == 0.0
    assert data["message"].startswith("no rate meets the SLO")
    assert data["binding_slo"] == "ttft_p99"
    assert all({"rate_req_s", "met"} <= set(p) and not p["met"] for p in data["probes"])
    rates = sorted(p["rate_req_s"] for p in data["probes"])
    assert rates[-1] / rates[0] == pytest.approx(2 ** (len(rates) - 1))  # halvings from the estimate


@pytest.mark.parametrize(
    "args, message",
    [
        (["--slo", "ttft_p99=2s", "--arrival", "gamma:0"], "gamma:CV"),
        (["--slo", "ttft_p99=2s", "--arrival", "bursty"], "poisson"),
        (["--slo", "ttft_p99=2s", "--arrival", "trace"], "trace workload"),
        (["--slo", "ttft_p95=2s"], "unknown percentile"),
        (["--slo", "ttft_p99=2s", "--rel-tol", "0"], "relative tolerance"),
    ],
)
def test_capacity_bad_input_is_a_clear_error(args, message):
    result = _invoke("capacity", *SMALL, *args)
    assert isinstance(result.exception, ConfigError)  # main() prints it as "error: ..." and exits 2
    assert message in str(result.exception)


def test_run_reports_its_slo_verdict():
    result = _invoke("run", *SMALL, "--arrival", "poisson:1", "--slo", "ttft_p99=1000s,tbt_p50=10s", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["slo_met"] is True and data["slo_met_fraction"] == 1.0
    assert data["goodput_tok_s"] == data["throughput_tok_s"]
    assert set(data["slo_values_s"]) == {"ttft_p99", "tbt_p50"}


def test_run_rejects_a_bad_slo_before_simulating():
    result = _invoke("run", *SMALL, "--slo", "e2e_p99=-1s")
    assert isinstance(result.exception, ConfigError) and "positive" in str(result.exception)
