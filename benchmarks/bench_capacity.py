"""Wall time of the capacity search and of the serving study (issue 15; targets on 2 cores:
``l3sim capacity`` for L3 GPT-175B OpenR1 <= 60 s, ``l3sim reproduce serving --quick`` <= 3 min).

Run: .venv/bin/pytest benchmarks/bench_capacity.py --benchmark-enable
Both run in-process through the CLI with the defaults a user gets (the capacity search: 200 requests
and 2 seeds per probe; the study: --quick, joblib with 2 jobs, from an empty --out). The figures go
into docs/performance.md.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil

from typer.testing import CliRunner

from l3sim.cli import app

JOBS = min(2, os.cpu_count() or 1)
SLO = "ttft_p99=10s,tbt_p99=300ms"  # the serving study's SLO pair


def _capacity() -> dict:
    result = CliRunner().invoke(app, ["capacity", "--system", "l3", "--model", "gpt-175b", "--workload", "openr1",
                                      "--slo", SLO, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_capacity_l3_gpt175b_openr1(benchmark):
    """``l3sim capacity`` for L3 GPT-175B on OpenR1 under the study's SLO pair (target <= 60 s)."""
    data = benchmark.pedantic(_capacity, rounds=1, iterations=1)
    assert data["outcome"] in ("found", "unsaturated", "no-rate") and data["probes"]


def test_reproduce_serving_quick(benchmark, tmp_path):
    """``l3sim reproduce serving --quick`` from an empty output folder (target <= 3 min)."""
    rounds = itertools.count()

    def run() -> None:
        out = tmp_path / f"run{next(rounds)}"
        shutil.rmtree(out, ignore_errors=True)
        result = CliRunner().invoke(app, ["reproduce", "serving", "--quick", "--out", str(out), "--jobs", str(JOBS),
                                          "--no-progress"])
        assert result.exit_code == 0, result.output
        assert (out / "sections" / "serving.md").is_file()

    benchmark.pedantic(run, rounds=1, iterations=1)
