"""Output paths: refused before the simulation runs, write failures as clean errors, no partial files,
files with the user's normal mode."""

from __future__ import annotations

import errno
import importlib
import os
import stat
from pathlib import Path

import pytest
from cli_harness import expect_clean, expect_error
from corpus import RUN
from fuzz_profile import FUZZ
from hypothesis import given
from hypothesis import strategies as st

import l3sim.outputs

SIMULATE_MODULE = importlib.import_module("l3sim.serving.simulate")


@pytest.fixture
def no_simulation(monkeypatch):
    """Fail the test if a simulation starts: a bad output path must be refused before."""
    def forbidden(*args, **kwargs):
        raise AssertionError("the simulation ran before the output path was checked")

    monkeypatch.setattr(SIMULATE_MODULE, "serve", forbidden)


def bad_paths(tmp: Path) -> dict[str, Path]:
    afile = tmp / "a-file"
    afile.write_text("x")
    return {"child of a file": afile / "out", "too long": tmp / ("n" * 300), "grandchild of a file": afile / "a" / "b",
            "path too long": tmp.joinpath(*["d" * 200] * 25)}


@pytest.mark.parametrize("option", ["--out", "--timeline"])
@pytest.mark.parametrize("case", ["child of a file", "too long", "grandchild of a file", "path too long"])
def test_run_refuses_bad_output_paths_before_simulating(option, case, tmp_path, no_simulation) -> None:
    path = bad_paths(tmp_path)[case]
    expect_error([*RUN, option, str(path)], option)


def test_out_that_is_a_file_and_timeline_that_is_a_folder(tmp_path, no_simulation) -> None:
    afile = tmp_path / "result"
    afile.write_text("x")
    expect_error([*RUN, "--out", str(afile)], "is a file")
    expect_error([*RUN, "--timeline", str(tmp_path)], "is a folder")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder(tmp_path, no_simulation) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    expect_error([*RUN, "--out", str(folder / "out")], "not writable")


@pytest.mark.parametrize("args", [
    ["roofline", "--context", "1000", "--out"],
    ["sweep", "{sweep}", "--backend", "serial", "--out"],
    ["reproduce", "e2e", "--quick", "--out"],
    ["reproduce", "hw-ablation", "--out"],
    ["demo", "--out"],
])
def test_other_commands_refuse_bad_output_folders(args, tmp_path, no_simulation) -> None:
    sweep = tmp_path / "s.toml"
    sweep.write_text('[base]\nplatform = "dgx-a100"\nmodel = "llama-2-7b"\nworkload = "openr1"\n[grid]\nseed = [0]\n')
    args = [a.replace("{sweep}", str(sweep)) for a in args]
    expect_error([*args, str(bad_paths(tmp_path)["child of a file"])], "--out")


def test_full_disk_is_a_clean_error_and_leaves_no_partial_file(tmp_path, monkeypatch) -> None:
    def full(src, dst):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(l3sim.outputs.os, "replace", full)
    out = tmp_path / "out"
    expect_error([*RUN, "--out", str(out)], "disk is full")
    assert not [p for p in out.iterdir()], "a partial or temporary file was left behind"


def test_results_get_the_users_normal_mode(tmp_path) -> None:
    old = os.umask(0o022)
    try:
        out = tmp_path / "out"
        assert expect_clean([*RUN, "--out", str(out), "--timeline", str(tmp_path / "t.json")]).code == 0
        sweep = tmp_path / "s.toml"
        sweep.write_text('[base]\nplatform = "dgx-a100"\nmodel = "llama-2-7b"\nworkload = "dolphin-short"\n'
                         'requests = 2\n[grid]\nseed = [0]\n')
        assert expect_clean(["sweep", str(sweep), "--backend", "serial", "--out", str(tmp_path / "sw"),
                             "--no-progress"]).code == 0
    finally:
        os.umask(old)
    files = [*out.iterdir(), tmp_path / "t.json", *(tmp_path / "sw").iterdir(), *(tmp_path / "sw/store/parts").iterdir()]
    files = [p for p in files if p.is_file()]
    assert len(files) >= 6
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path


NAME = st.text(st.characters(codec="utf-8", exclude_characters="/"), min_size=1, max_size=300)


@FUZZ
@given(parts=st.lists(NAME, min_size=1, max_size=3))
def test_random_output_paths(parts: list[str], tmp_path_factory: pytest.TempPathFactory) -> None:
    base = tmp_path_factory.mktemp("paths")
    (base / "f").write_text("x")
    path = base.joinpath(*parts)
    expect_clean([*RUN, "--timeline", str(path)])  # --timeline: one file, no plot, so many names fit the budget
    expect_clean([*RUN, "--timeline", str(base / "f" / parts[0])], allowed=(2,))
