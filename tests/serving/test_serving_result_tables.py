"""RunResult's tables are built at first use: the metrics agree with the frames, and a run whose tables no one
reads does not import pandas."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from serving_fakes import Req, fake_system, run_spec

from l3sim.serving import serve
from l3sim.serving.recorder import SEGMENT_COLUMNS
from l3sim.serving.result import REQUEST_COLUMNS, RunResult


def _mixed_run():
    """Two replicas, ids out of arrival order, and two requests too long for the KV cache (never fit)."""
    rng = np.random.default_rng(7)
    reqs = [Req(int(i), float(rng.uniform(0, 5)), int(rng.integers(5, 40)), int(rng.integers(2, 12)))
            for i in rng.permutation(30)]
    reqs += [Req(100, 1.0, 900, 5), Req(31, 0.2, 950, 3)]
    return serve(fake_system(800), reqs, run_spec('arrival="trace"', dp=2))


def test_metrics_agree_with_the_request_frame() -> None:
    result = _mixed_run()
    table = result.requests_table
    assert list(table.columns) == list(REQUEST_COLUMNS)
    assert table["id"].tolist() == sorted(table["id"].tolist())
    assert set(table.loc[table["status"] == "never-fits", "id"]) == {100, 31} == set(result.never_fit_ids)
    assert set(table.loc[table["status"] == "served", "replica"]) == {0, 1}
    served = table[table["status"] == "served"]
    # the definitions of metrics.py, evaluated with pandas on the frame
    assert result.requests_served == len(served) == 30
    assert result.output_tokens == int(served["output_tokens"].sum())
    first = served["arrival_s"].min()
    assert result.makespan_s == float((served["arrival_s"] + served["e2e_s"]).max()) - first
    assert result.ttft_s["mean"] == float(served["ttft_s"].to_numpy().mean())
    assert result.e2e_s["mean"] == float(served["e2e_s"].to_numpy().mean())
    assert result.ttft_s["p99"] == float(np.quantile(served["ttft_s"], 0.99, method="inverted_cdf"))


def test_every_row_of_the_request_frame_by_definition() -> None:
    """Each request's row against the request it came from: tokens and arrival as given, TBT mean = (E2E - TTFT)
    / (output - 1) (NaN for one output token), never-fit rows on replica -1 with NaN latencies."""
    rng = np.random.default_rng(7)
    reqs = [Req(int(i), float(rng.uniform(0, 5)), int(rng.integers(5, 40)), int(rng.integers(2, 12)))
            for i in rng.permutation(30)]
    reqs += [Req(100, 1.0, 900, 5), Req(31, 0.2, 950, 3), Req(40, 0.7, 12, 1)]
    result = serve(fake_system(800), reqs, run_spec('arrival="trace"', dp=2))
    rows = {int(row["id"]): row for row in result.requests_table.to_dict("records")}
    assert len(rows) == len(reqs)
    for req in reqs:
        row = rows[req.id]
        assert (row["arrival_s"], row["prompt_tokens"], row["output_tokens"]) == (
            req.arrival_s, req.prompt_tokens, req.output_tokens)
        if req.id in (100, 31):
            assert row["status"] == "never-fits" and row["replica"] == -1 and row["preemptions"] == 0
            assert all(math.isnan(row[key]) for key in ("ttft_s", "tbt_mean_s", "e2e_s"))
            continue
        assert row["status"] == "served" and row["replica"] in (0, 1) and row["preemptions"] >= 0
        assert 0 < row["ttft_s"] <= row["e2e_s"]
        if req.output_tokens == 1:
            assert math.isnan(row["tbt_mean_s"]) and row["e2e_s"] == row["ttft_s"]
        else:
            assert row["tbt_mean_s"] == pytest.approx((row["e2e_s"] - row["ttft_s"]) / (req.output_tokens - 1),
                                                      rel=1e-9)
    assert result.requests_table["replica"].dtype.kind == "i"
    assert result.requests_table["preemptions"].dtype.kind == "i"


def test_segments_frame_holds_every_iteration() -> None:
    result = _mixed_run()
    segments = result.segments
    assert list(segments.columns) == list(SEGMENT_COLUMNS)
    assert int(segments["iterations"].sum()) == result.iterations
    assert segments is result.segments  # built once


def test_empty_result_has_empty_frames() -> None:
    result = RunResult(system="s", scheduler="c", model="m", workload="w", tp=1, dp=1, requests=0)
    assert list(result.requests_table.columns) == list(REQUEST_COLUMNS) and result.requests_table.empty
    assert result.segments.empty
    assert math.isnan(result.makespan_s)


def test_nothing_served_gives_nan_metrics_and_the_unfit_rows() -> None:
    result = serve(fake_system(100), [Req(0, 0.0, 500, 3), Req(1, 0.0, 600, 2)], run_spec())
    assert result.requests_served == 0 and math.isnan(result.makespan_s)
    assert result.requests_table["status"].tolist() == ["never-fits", "never-fits"]


@pytest.mark.parametrize("system", ["gpu-only", "l3"])
def test_a_json_run_does_not_import_pandas(system: str) -> None:
    """The second of two identical runs: the first may train L3's predictors (scikit-learn imports pandas);
    the second reads them from the fit cache."""
    code = (
        "import sys, runpy\n"
        f"sys.argv = ['l3sim', 'run', '--system', '{system}', '--requests', '12', '--json']\n"
        "try:\n    runpy.run_module('l3sim', run_name='__main__')\nexcept SystemExit as exit:\n"
        "    assert not exit.code, exit.code\n"
        "print('PANDAS', 'pandas' in sys.modules)\n"
    )
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("PANDAS False"), done.stdout[-500:]
    # and a reader of the tables still gets them
    assert isinstance(_mixed_run().requests_table, pd.DataFrame)
