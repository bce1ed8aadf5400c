"""Sweep files and the results store: fuzzed grids, damaged parts (quarantined and recomputed), tampered
statuses, output names checked before any point runs, and two sweeps writing one store at once."""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cli_harness import expect_clean, expect_error
from corpus import SWEEP
from fuzz_profile import FUZZ
from hypothesis import given
from hypothesis import strategies as st

from l3sim.experiments.store import ResultStore


def sweep_args(path: Path, out: Path) -> list[str]:
    return ["sweep", str(path), "--backend", "serial", "--out", str(out), "--no-progress", "--json"]


def run_sweep(tmp: Path, text: str = SWEEP, out: str = "out") -> dict:
    path = tmp / "sweep.toml"
    path.write_text(text, encoding="utf-8")
    outcome = expect_clean(sweep_args(path, tmp / out), allowed=(0,))
    return json.loads(outcome.stdout)


# ---- grids ------------------------------------------------------------------------------------------------
SMALL = st.lists(st.integers(0, 3) | st.sampled_from([-1, 1.5, "x", True, math.nan, math.inf]), min_size=1, max_size=2)
BOUND = st.sampled_from([0, 1, 2, -1, 1e-12, 1e12, 10**13, math.nan, math.inf, -math.inf, 1e300, "a", True])


def toml_value(value: object) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return json.dumps(value)


@st.composite
def grids(draw) -> str:
    """A [grid] table: a small list (each point cheap), or a range that is either tiny or far too big."""
    key = draw(st.sampled_from(["seed", "serving.max_batch_tokens", "gpu.compute_util", "sede", "requests"]))
    if draw(st.booleans()):
        return f"{key} = [{', '.join(toml_value(v) for v in draw(SMALL))}]"
    start, stop, step = draw(BOUND), draw(BOUND), draw(BOUND)
    finite = all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in (start, stop, step))
    if finite and step > 0 and stop >= start and 3 < (stop - start) / step < 10**5 + 1:
        stop = start + 2 * step  # keep valid grids small: this suite runs them
    return f"{key} = {{start = {toml_value(start)}, stop = {toml_value(stop)}, step = {toml_value(step)}}}"


@FUZZ
@given(grid=grids(), metric=st.sampled_from(["throughput_tok_s", "tbt_s.p99", "busy_fraction.gpu", "thruput"]))
def test_random_grids(grid: str, metric: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    tmp = tmp_path_factory.mktemp("grid")
    path = tmp / "sweep.toml"
    path.write_text(f'[base]\nplatform = "dgx-a100"\nmodel = "llama-2-7b"\nworkload = "dolphin-short"\n'
                    f'{"" if "requests" in grid else "requests = 2"}\n[grid]\n{grid}\n'
                    f'[output]\nmetrics = ["{metric}"]\n', encoding="utf-8")
    outcome = expect_clean(sweep_args(path, tmp / "out"))
    if outcome.code == 0:
        summary = json.loads(outcome.stdout)
        assert not summary["crashed_errors"] and summary.get("crashed", 0) == 0, summary


@pytest.mark.parametrize("grid,needle", [
    ("seed = {start = 0, stop = 1000000000000}", "100,000"),
    ("gpu.compute_util = {start = 0.1, stop = 0.9, step = 1e-12}", "100,000"),
    ("seed = {start = 0, stop = nan}", "finite"),
    ("seed = {start = -inf, stop = 1}", "finite"),
    ("seed = [0, 1]\nserving.max_batch_tokens = {start = 1, stop = 400}\n"
     "gpu.compute_util = {start = 0.001, stop = 1, step = 0.001}", "points"),
])
def test_huge_or_non_finite_grids_are_refused_at_once(grid: str, needle: str, tmp_path: Path) -> None:
    path = tmp_path / "sweep.toml"
    path.write_text(f'[base]\nplatform = "dgx-a100"\nmodel = "llama-2-7b"\nworkload = "openr1"\n[grid]\n{grid}\n')
    expect_error(sweep_args(path, tmp_path / "out"), needle)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("output", ['metrics = ["throughput"]', 'plots = [{x = "seed", y = "latency"}]'])
def test_unknown_metric_names_are_refused_before_any_point_runs(output: str, tmp_path: Path) -> None:
    path = tmp_path / "sweep.toml"
    path.write_text(SWEEP.split("[output]")[0] + f"[output]\n{output}\n")
    expect_error(sweep_args(path, tmp_path / "out"), "not produced")
    assert not (tmp_path / "out").exists()


# ---- damaged parts -----------------------------------------------------------------------------------------
def _garbage(part: Path, other: Path) -> None:
    part.write_bytes(b"not parquet at all")


def _empty(part: Path, other: Path) -> None:
    part.write_bytes(b"")


def _truncated(part: Path, other: Path) -> None:
    part.write_bytes(part.read_bytes()[: part.stat().st_size // 2])


def _wrong_schema(part: Path, other: Path) -> None:
    pq.write_table(pa.table({"a": [1], "b": ["x"]}), part)


def _directory(part: Path, other: Path) -> None:
    part.unlink()
    part.mkdir()


def _copied_from_other(part: Path, other: Path) -> None:
    shutil.copyfile(other, part)


def _copied_with_hash_edited(part: Path, other: Path) -> None:
    table = pq.read_table(other).to_pandas()
    table["hash"] = part.name.removesuffix(".parquet")
    table.to_parquet(part, index=False)


def _tampered_status(part: Path, other: Path) -> None:
    table = pq.read_table(part).to_pandas()
    table["status"] = "crashed"
    table.to_parquet(part, index=False)


def _two_rows(part: Path, other: Path) -> None:
    table = pq.read_table(part).to_pandas()
    pd.concat([table, table]).to_parquet(part, index=False)


DAMAGE = [_garbage, _empty, _truncated, _wrong_schema, _directory, _copied_from_other, _copied_with_hash_edited,
          _tampered_status, _two_rows]


@pytest.fixture(scope="module")
def finished_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("finished")
    summary = run_sweep(tmp)
    assert summary["ok"] == 2
    return tmp


@pytest.mark.parametrize("damage", DAMAGE, ids=[d.__name__[1:] for d in DAMAGE])
def test_damaged_part_is_quarantined_and_recomputed(damage, finished_sweep: Path, tmp_path: Path) -> None:
    shutil.copytree(finished_sweep / "out", tmp_path / "out")
    parts = sorted((tmp_path / "out/store/parts").glob("*.parquet"))
    assert len(parts) == 2
    before = pd.read_parquet(tmp_path / "out/results.parquet")
    damage(parts[0], parts[1])
    path = tmp_path / "sweep.toml"
    path.write_text(SWEEP, encoding="utf-8")
    outcome = expect_clean(sweep_args(path, tmp_path / "out"), allowed=(0,))
    summary = json.loads(outcome.stdout)
    assert summary["ran"] == 1 and summary["reused"] == 1 and summary["quarantined"] == 1, summary
    assert summary["ok"] == 2 and "crashed" not in summary, summary
    assert "quarantine" in outcome.stderr
    assert len(list((tmp_path / "out/store/quarantine").iterdir())) == 1
    after = pd.read_parquet(tmp_path / "out/results.parquet")
    pd.testing.assert_frame_equal(before.drop(columns="elapsed_s"), after.drop(columns="elapsed_s"))


def test_store_refuses_to_write_a_status_it_would_not_read(tmp_path: Path) -> None:
    from l3sim.errors import L3SimError

    with pytest.raises(L3SimError, match="status"):
        ResultStore(tmp_path).put("k", {"a": 1}, {"x": 1.0}, status="crashed")


# ---- concurrency -------------------------------------------------------------------------------------------
def test_open_store_removes_only_dead_writers_temp_files(tmp_path: Path) -> None:
    parts = tmp_path / "parts"
    parts.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    host = socket.gethostname()
    alive = parts / f".tmp-{host}-{os.getpid()}-abc.parquet"
    gone = parts / f".tmp-{host}-{int(dead.stdout)}-abc.parquet"
    foreign = parts / ".tmp-some-other-host-1-abc.parquet"
    for path in (alive, gone, foreign):
        path.write_bytes(b"in flight")
    ResultStore(tmp_path)
    assert alive.exists() and foreign.exists() and not gone.exists()


def test_two_sweeps_on_one_out_at_once(tmp_path: Path) -> None:
    """Both finish, neither crashes the other, and the store ends complete (every point once)."""
    text = SWEEP.replace("seed = [0, 1]", "seed = [0, 1, 2, 3]")
    path = tmp_path / "sweep.toml"
    path.write_text(text, encoding="utf-8")
    command = [sys.executable, "-m", "l3sim", *sweep_args(path, tmp_path / "out")[:-1]]
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [proc.communicate(timeout=300) for proc in procs]
    for proc, (out, err) in zip(procs, results):
        assert proc.returncode == 0, err
        assert "Traceback" not in err
    table = pd.read_parquet(tmp_path / "out/results.parquet")
    assert list(table["status"]) == ["ok"] * 4
    assert len(list((tmp_path / "out/store/parts").glob("*.parquet"))) == 4
    assert not list((tmp_path / "out/store/parts").glob(".tmp-*"))
