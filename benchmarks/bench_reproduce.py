"""Wall time of ``l3sim reproduce`` (targets on a 2-core machine, joblib: e2e <= 3 min, all <= 10 min).

Run: .venv/bin/pytest benchmarks/bench_reproduce.py --benchmark-enable
Each round starts from an empty ``--out`` (no stored points), so it times the
whole study: validation, every serving run through the joblib executor, the
store, the CSV, the PNG and report.md. The figures go into docs/performance.md;
which systems ran depends on what the build registers (see the report's notes).
"""

from __future__ import annotations

import itertools
import os
import shutil

import pytest
from typer.testing import CliRunner

from l3sim.cli import app

JOBS = min(2, os.cpu_count() or 1)  # the CI machine the targets are set for has 2 cores


def _reproduce(study: str, out, *extra: str) -> None:
    shutil.rmtree(out, ignore_errors=True)
    result = CliRunner().invoke(app, ["reproduce", study, "--out", str(out), "--jobs", str(JOBS), "--no-progress",
                                      *extra])
    assert result.exit_code == 0, result.output
    assert (out / "report.md").is_file()


@pytest.mark.parametrize(("study", "extra"), [("e2e", ()), ("e2e", ("--quick",)), ("all", ()),
                                              ("all", ("--quick",))])
def test_reproduce(benchmark, tmp_path, study, extra):
    """``l3sim reproduce STUDY [--quick]`` from an empty output folder, joblib backend."""
    rounds = itertools.count()
    benchmark.pedantic(lambda: _reproduce(study, tmp_path / f"run{next(rounds)}", *extra), rounds=1, iterations=1)


def test_reproduce_e2e_resume(benchmark, tmp_path):
    """A second ``reproduce e2e --quick`` into the same folder: every point comes from the store."""
    out = tmp_path / "out"
    _reproduce("e2e", out, "--quick")

    def again() -> None:
        result = CliRunner().invoke(app, ["reproduce", "e2e", "--quick", "--out", str(out), "--no-progress"])
        assert result.exit_code == 0, result.output

    benchmark.pedantic(again, rounds=3, iterations=1)
