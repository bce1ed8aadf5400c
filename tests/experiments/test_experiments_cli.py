"""``l3sim sweep``: exit codes, error messages naming the key, outputs; the simulator is replaced by a stub."""

from __future__ import annotations

import json
import re
import sys
import types

import pandas as pd
import pytest
from typer.testing import CliRunner

from l3sim.cli import app
from l3sim.errors import L3SimError

GOOD = """
[base]
platform = "dgx-a100"
model = "llama-2-7b"
workload = "openr1"
requests = 10

[grid]
seed = [0, 1]
serving.max_batch_tokens = {start = 1024, stop = 3072, step = 1024}

[output]
metrics = ["throughput_tok_s"]
plots = [{x = "serving.max_batch_tokens", y = "throughput_tok_s", hue = "seed"}]
"""


class _Result:
    def __init__(self, spec, account=True, timeline=True):
        assert account is False  # a sweep point's metrics hold no account, so the run skips it
        assert timeline is False  # nor a timeline
        self.spec = spec

    def to_dict(self):
        return {"throughput_tok_s": self.spec.seed * 100 + self.spec.serving.max_batch_tokens / 1024, "model": "x"}


@pytest.fixture
def stub_simulator(monkeypatch):
    """A stand-in for l3sim.serving: simulate(spec) -> a result whose metric is a closed form of the spec."""
    module = types.ModuleType("l3sim.serving")
    module.simulate = _Result
    monkeypatch.setitem(sys.modules, "l3sim.serving", module)


def invoke(*args):
    """Run the CLI as ``main`` does: an L3SimError becomes exit 2 with its message."""
    result = CliRunner().invoke(app, list(args))
    if isinstance(result.exception, L3SimError):
        return 2, str(result.exception)
    return result.exit_code, result.output


def test_sweep_writes_store_csv_and_plot(tmp_path, stub_simulator):
    path = tmp_path / "grid.toml"
    path.write_text(GOOD)
    out = tmp_path / "out"
    code, output = invoke("sweep", str(path), "--backend", "serial", "--out", str(out), "--json")
    assert code == 0, output
    summary = json.loads(output)
    assert summary["points"] == 6 and summary["ok"] == 6
    table = pd.read_csv(out / "results.csv")
    assert list(table["throughput_tok_s"]) == [s * 100 + t / 1024 for s in (0, 1) for t in (1024, 2048, 3072)]
    assert (out / "plots" / "throughput_tok_s_vs_serving.max_batch_tokens_by_seed.png").is_file()
    code, output = invoke("sweep", str(path), "--backend", "serial", "--out", str(out), "--json")
    assert json.loads(output)["reused"] == 6


@pytest.mark.parametrize(
    "edit, pattern",
    [
        (("seed = [0, 1]", "sed = [0, 1]"), "sed"),
        (("seed = [0, 1]", "seed = []"), "'seed'.*empty"),
        (("seed = [0, 1]", 'seed = [0, "one"]'), "seed.*'one'"),
        (("serving.max_batch_tokens", "serving.max_batch_tokenz"), "max_batch_tokenz"),
        (("[output]", "[outputs]"), "outputs"),
    ],
)
def test_bad_sweep_file_exits_2_naming_the_key(tmp_path, stub_simulator, edit, pattern):
    path = tmp_path / "bad.toml"
    path.write_text(GOOD.replace(*edit))
    code, message = invoke("sweep", str(path), "--out", str(tmp_path / "out"))
    assert code == 2
    assert re.search(pattern, message), message
    assert not (tmp_path / "out").exists()


def test_empty_grid_exits_2(tmp_path, stub_simulator):
    path = tmp_path / "empty.toml"
    path.write_text(GOOD.split("[grid]")[0].replace('requests = 10', 'requests = 10\nseed = 1'))
    code, message = invoke("sweep", str(path), "--out", str(tmp_path / "out"))
    assert code == 2 and "grid is empty" in message


def test_missing_simulator_is_reported(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "l3sim.serving", None)  # import fails, as before the serving layer lands
    path = tmp_path / "grid.toml"
    path.write_text(GOOD)
    code, message = invoke("sweep", str(path), "--out", str(tmp_path / "out"))
    assert code == 2 and "l3sim.serving.simulate" in message
    assert not (tmp_path / "out").exists()


def test_backend_name_is_checked(tmp_path, stub_simulator):
    path = tmp_path / "grid.toml"
    path.write_text(GOOD)
    code, message = invoke("sweep", str(path), "--backend", "dask", "--out", str(tmp_path / "out"))
    assert code == 2 and "dask" in message
