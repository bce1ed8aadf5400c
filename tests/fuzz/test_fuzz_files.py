"""Every input file kind through the real CLI: damaged files (hand-written cases and random mutations).

A file that cannot be used must be a clean ``error:`` naming it (exit 2); one that can must run and give
sane metrics. Cases: a directory given as a file, a missing file, a symlink loop, non-UTF-8 bytes, nesting
deeper than any parser, a 5,000-digit integer, an empty file, random bytes, and random edits of a valid file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from cli_harness import expect_clean, expect_error, expect_sane_run, no_non_finite
from corpus import SEEDS, Seed
from fuzz_profile import FUZZ
from hypothesis import given
from hypothesis import strategies as st

FILE_SEEDS = [seed for name, seed in SEEDS.items() if name != "set"]


def run_seed(seed: Seed, path: Path, scratch: Path):
    """Run the seed's command on ``path`` and apply the oracle that fits the command."""
    args = seed.command(path, scratch)
    if args[0] == "run":
        return expect_sane_run(args)
    outcome = expect_clean(args)
    if outcome.code == 0 and "--json" in args:
        data = json.loads(outcome.stdout)
        assert no_non_finite(data), data
        if args[0] == "sweep":
            assert data.get("crashed", 0) == 0 and not data["crashed_errors"], data
    return outcome


@pytest.mark.parametrize("name", [seed.name for seed in FILE_SEEDS])
def test_valid_seed_runs(name: str, tmp_path: Path) -> None:
    """The undamaged seeds work (else the damaged variants would test nothing)."""
    seed = SEEDS[name]
    path = tmp_path / seed.name
    path.write_text(seed.text, encoding="utf-8")
    assert run_seed(seed, path, tmp_path).code == 0


def _damage(kind: str, path: Path, seed: Seed) -> None:
    """Turn ``path`` into one kind of unusable file."""
    if kind == "directory":
        path.mkdir()
    elif kind == "symlink-loop":
        path.symlink_to(path.name)
    elif kind == "non-utf8":
        path.write_bytes(seed.text.encode("utf-8")[:20] + b"\xff\xfe\x80" + seed.text.encode("utf-8")[20:])
    elif kind == "deep":
        opener, closer = ("[", "]")
        inner = opener * 100_000 + closer * 100_000
        text = f"x = {inner}\n" if path.suffix == ".toml" else inner
        path.write_text(text if path.suffix != ".jsonl" else inner + "\n", encoding="utf-8")
    elif kind == "huge-int":
        digits = "9" * 5000
        path.write_text(f"x = {digits}\n" if path.suffix == ".toml" else f'{{"x": {digits}}}\n', encoding="utf-8")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "binary":
        path.write_bytes(bytes(range(256)) * 4)


DAMAGE = ["missing", "directory", "symlink-loop", "non-utf8", "deep", "huge-int", "empty", "binary"]


@pytest.mark.parametrize("kind", DAMAGE)
@pytest.mark.parametrize("name", [seed.name for seed in FILE_SEEDS])
def test_unusable_file_is_a_clean_error(name: str, kind: str, tmp_path: Path) -> None:
    seed = SEEDS[name]
    path = tmp_path / seed.name
    _damage(kind, path, seed)
    args = seed.command(path, tmp_path)
    expect_error(args, "")  # exit 2 with an error line; the message names the file where there is one
    if kind in ("directory", "symlink-loop", "non-utf8", "missing"):
        expect_error(args, path.name)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
@pytest.mark.parametrize("name", [seed.name for seed in FILE_SEEDS])
def test_unreadable_file_is_a_clean_error(name: str, tmp_path: Path) -> None:
    seed = SEEDS[name]
    path = tmp_path / seed.name
    path.write_text(seed.text, encoding="utf-8")
    path.chmod(0)
    expect_error(seed.command(path, tmp_path), path.name)


def mutate(text: str, data: st.DataObject) -> bytes:
    """A random edit of ``text``: flip bytes, cut it, splice in junk, or swap a number for an odd one."""
    raw = bytearray(text.encode("utf-8"))
    kind = data.draw(st.sampled_from(["flip", "truncate", "splice", "number"]))
    if kind == "flip":
        for _ in range(data.draw(st.integers(1, 8))):
            index = data.draw(st.integers(0, len(raw) - 1))
            raw[index] ^= 1 << data.draw(st.integers(0, 7))
    elif kind == "truncate":
        raw = raw[: data.draw(st.integers(0, len(raw)))]
    elif kind == "splice":
        index = data.draw(st.integers(0, len(raw)))
        raw[index:index] = data.draw(st.binary(max_size=24) | st.text(max_size=24).map(str.encode))
    else:
        digits = [i for i, byte in enumerate(raw) if chr(byte).isdigit()]
        if digits:
            index = data.draw(st.sampled_from(digits))
            odd = data.draw(st.sampled_from(["-1", "0", "1e309", "nan", "inf", "1e-300", "99999999999999999999",
                                             "-0.0", "3.5", "\"7\"", "[]", "true", "null"]))
            raw[index:index + 1] = odd.encode()
    return bytes(raw)


@FUZZ
@given(name=st.sampled_from([seed.name for seed in SEEDS.values()]), data=st.data())
def test_mutated_inputs(name: str, data: st.DataObject, tmp_path_factory: pytest.TempPathFactory) -> None:
    seed = SEEDS[name]
    scratch = tmp_path_factory.mktemp("mutant")
    path = scratch / seed.name
    path.write_bytes(mutate(seed.text, data))
    if name == "set":  # --set takes text on the command line: it cannot hold invalid UTF-8
        path.write_text(path.read_bytes().decode("utf-8", errors="replace"), encoding="utf-8")
    run_seed(seed, path, scratch)


@pytest.mark.parametrize("name", ["model.toml", "config.json", "azure.csv", "sweep.toml"])
def test_permission_denied_is_a_clean_error(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a file without read permission gives (simulated: the tests may run as root, who reads anything)."""
    seed = SEEDS[name]
    path = tmp_path / seed.name
    path.write_text(seed.text, encoding="utf-8")
    real = Path.read_bytes

    def denied(self: Path) -> bytes:
        if self.name == path.name:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", denied)
    expect_error(seed.command(path, tmp_path), "Permission denied")
