"""Study framework: registry, the shared store-backed runner, the report files, the reproduce CLI."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from l3sim.cli import app
from l3sim.errors import ConfigError, MissingDependencyError
from l3sim.experiments import studies
from l3sim.experiments.studies.tables import markdown_table
from l3sim.experiments.study_report import write_failure, write_report, write_study
from l3sim.experiments.store import ResultStore
from l3sim.experiments.studies import StudyOptions, StudyResult, expand, run_study
from l3sim.experiments.studies.points import UNAVAILABLE, Grid, prefetch, run_grid

BASE = {"platform": "dgx-a100", "model": "llama-2-7b", "workload": "openr1"}


def test_all_expands_to_every_study_in_order() -> None:
    assert expand("all") == [s for s in studies.STUDIES if s not in studies.BEYOND_PAPER]
    assert expand("pcie") == ["pcie"]
    with pytest.raises(ConfigError, match="unknown study 'nope'.*e2e"):
        expand("nope")


def test_a_study_whose_module_is_absent_is_a_missing_dependency(monkeypatch, tmp_path) -> None:
    monkeypatch.setitem(studies.STUDIES, "ghost", ("help", "l3sim.experiments.studies.no_such_module:f"))
    with pytest.raises(MissingDependencyError, match="ghost"):
        run_study("ghost", StudyOptions(tmp_path))


def test_options_request_count() -> None:
    assert StudyOptions("x").request_count == 1000  # the paper's 1,000 requests
    assert StudyOptions("x", quick=True).request_count == 100
    assert StudyOptions("x", quick=True, requests=7).request_count == 7
    with pytest.raises(ConfigError):
        StudyOptions("x", requests=0)


def test_run_grid_runs_the_product_in_order_and_marks_unknown_systems(tmp_path) -> None:
    options = StudyOptions(tmp_path, backend="serial", progress=False, requests=4)
    grid = {"system": ["gpu-only", "no-such-system"], "seed": [0, 1, 2]}
    table = run_grid("t", options, Grid(BASE, grid))
    assert list(table["system"]) == ["gpu-only"] * 3 + ["no-such-system"] * 3
    assert list(table["seed"]) == [0, 1, 2] * 2
    assert list(table["status"]) == ["ok"] * 3 + [UNAVAILABLE] * 3
    assert table.loc[3:, "error"].str.contains("not available in this build").all()
    assert (table.loc[:2, "requests_served"] == 4).all()
    # Unavailable points are not stored (a later build with the system must run them).
    assert len(ResultStore(options.store_dir).done()) == 3


def test_run_grid_shares_the_store_between_studies(tmp_path) -> None:
    options = StudyOptions(tmp_path, backend="serial", progress=False, requests=4)
    first = run_grid("a", options, Grid(BASE, {"seed": [0, 1]}))
    store = ResultStore(options.store_dir)
    parts = {key: (store.parts / f"{key}.parquet").stat().st_mtime_ns for key in store.done()}
    # Another study asking for one old point (seed 1 at the default 8192 budget) and one new one.
    second = run_grid("b", options, Grid({**BASE, "seed": 1}, {"serving.max_batch_tokens": [8192, 4096]}))
    assert second.loc[0, "hash"] == first.loc[1, "hash"]
    assert second.loc[0, "throughput_tok_s"] == first.loc[1, "throughput_tok_s"]
    after = store.done()
    assert len(after) == 3 and set(parts) < after
    # The shared point was not recomputed: its part file is untouched.
    assert all((store.parts / f"{key}.parquet").stat().st_mtime_ns == t for key, t in parts.items())


def test_run_grid_names_a_bad_point(tmp_path) -> None:
    options = StudyOptions(tmp_path, backend="serial", progress=False, requests=4)
    with pytest.raises(ConfigError, match="study t.*serving.max_batch_tokenz"):
        run_grid("t", options, Grid(BASE, {"serving.max_batch_tokenz": [1]}))
    assert not (tmp_path / "store").exists()


def test_prefetch_runs_every_study_s_points_in_one_pass_and_the_studies_then_simulate_nothing(tmp_path,
                                                                                               monkeypatch) -> None:
    """Two studies' grids (sharing a point, one of them unavailable) go to the executor in one map call; the
    studies' tables are then those of running each study on its own, read from the store."""
    from l3sim.experiments import executor

    grids = [("a", Grid(BASE, {"seed": [0, 1]})),
             ("b", Grid({**BASE, "seed": 1}, {"system": ["gpu-only", "no-such-system"]}))]
    alone = {name: run_grid(name, StudyOptions(tmp_path / "alone", backend="serial", progress=False, requests=4), g)
             for name, g in grids}
    calls = []
    real_map = executor.SerialExecutor.map

    def counting_map(self, run_fn, specs):
        calls.append(len(specs))
        return real_map(self, run_fn, specs)

    monkeypatch.setattr(executor.SerialExecutor, "map", counting_map)
    options = StudyOptions(tmp_path / "prefetched", backend="serial", progress=False, requests=4)
    prefetch(grids, options)
    assert calls == [2]  # seeds 0 and 1; b's gpu-only point is a's seed 1; the unknown system is not run
    tables = {name: run_grid(name, options, g) for name, g in grids}
    assert calls == [2]  # every point stored: the studies start no executor
    for name, table in tables.items():
        assert table.drop(columns="elapsed_s").equals(alone[name].drop(columns="elapsed_s")), name


def test_a_grid_whose_points_are_all_stored_starts_no_executor(tmp_path, monkeypatch) -> None:
    """A rerun reads the store without an executor (a Ray backend would start or reach a cluster for nothing);
    with one point missing, the executor is started and runs only that point."""
    from l3sim.experiments import runner

    options = StudyOptions(tmp_path, backend="serial", progress=False, requests=4)
    first = run_grid("t", options, Grid(BASE, {"seed": [0, 1]}))
    started = []
    real = runner.make_executor
    monkeypatch.setattr(runner, "make_executor", lambda *a, **k: started.append(a) or real(*a, **k))
    assert run_grid("t", options, Grid(BASE, {"seed": [0, 1]})).drop(columns="elapsed_s").equals(
        first.drop(columns="elapsed_s"))
    assert started == []
    again = run_grid("t", options, Grid(BASE, {"seed": [0, 1, 2]}))
    assert len(started) == 1 and list(again["status"]) == ["ok"] * 3


def test_prefetched_studies_read_every_run_from_the_store(tmp_path, monkeypatch) -> None:
    """After ``prefetch_studies`` (a study that lists its grids, one with its account, one that runs no serving
    point), running the studies simulates nothing."""
    import importlib

    options = StudyOptions(tmp_path, backend="serial", progress=False, requests=3)
    studies.prefetch_studies(["energy", "account", "pcie"], options)

    def no_simulation(*args, **kwargs):
        raise AssertionError("a prefetched point was simulated again")

    # the module, not the function l3sim.serving exports under the same name
    monkeypatch.setattr(importlib.import_module("l3sim.serving.simulate"), "serve", no_simulation)
    for name in ("energy", "account", "pcie"):
        assert len(run_study(name, options).table), name


def test_markdown_table() -> None:
    frame = pd.DataFrame({"a": [1, 2], "b": [0.123456, float("nan")], "c": ["x|y", "z"]})
    assert markdown_table(frame).splitlines() == ["| a | b | c |", "|---|---|---|", "| 1 | 0.1235 | x\\|y |",
                                                  "| 2 |  | z |"]


def _result(name: str, plot=None) -> StudyResult:
    table = pd.DataFrame({"x": [1, 2, 3], "y": [2.0, 4.0, 8.0]})
    return StudyResult(name, f"title of {name}", table, method="ran it", paper="paper says", findings="we see",
                       plot=plot, notes=["a caveat"])


def _draw(table: pd.DataFrame, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot(table["x"], table["y"])
    fig.savefig(path, format="png")
    plt.close(fig)


def test_write_study_and_report(tmp_path) -> None:
    configuration = {"requests_per_serving_run": 17}
    files = write_study(_result("second", plot=_draw), tmp_path, configuration)
    write_study(_result("first"), tmp_path, configuration)
    write_failure("third", "its module is not in this build", tmp_path)
    pd.testing.assert_frame_equal(pd.read_csv(files["csv"]), _result("x").table)
    assert (tmp_path / "second.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (tmp_path / "first.png").exists()  # no plot function: no figure, no broken link
    report = (tmp_path / write_report(tmp_path, ["first", "second", "missing", "third"])).read_text()
    assert report.index("## first:") < report.index("## second:") < report.index("## third: not run")
    section = (tmp_path / "sections" / "second.md").read_text()
    for text in ("**What ran.** ran it", "**The paper.** paper says", "**Ours.** we see", "> note: a caveat",
                 "![second](second.png)", "| x | y |", "| 3 | 8 |"):
        assert text in section
    assert "![first]" not in report
    page = (tmp_path / "report.html").read_text()
    assert page.index("first: title of first") < page.index("second: title of second") < page.index("third: not run")
    assert page.count("<img ") == 1 and page.count("<table>") == 2  # second's figure; both studies' tables
    for text in ("<strong>What ran.</strong> ran it", "<strong>Ours.</strong> we see", "note: a caveat",
                 "<td>3</td><td>8</td>", "&quot;requests_per_serving_run&quot;: 17"):
        assert text in page


def test_cli_reproduce_hw_ablation_json_and_files(tmp_path) -> None:
    result = CliRunner().invoke(app, ["reproduce", "hw-ablation", "--out", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["hw-ablation"]
    assert len(rows) == 2 * 5 * 4  # head sets x the paper's 5 context lengths x 4 variants
    for name in ("report.md", "report.html", "hw-ablation.csv", "hw-ablation.png", "sections/hw-ablation.md"):
        assert (tmp_path / name).is_file()


def test_cli_reproduce_unknown_study_exits_2(tmp_path) -> None:
    from l3sim.cli import main

    import sys

    argv = sys.argv
    sys.argv = ["l3sim", "reproduce", "nope", "--out", str(tmp_path)]
    try:
        with pytest.raises(SystemExit) as exc:
            main()
    finally:
        sys.argv = argv
    assert exc.value.code == 2
