"""``l3sim verify functional --gguf``: damaged GGUF files are clean errors naming file and key or tensor;
weights or metadata that make the numbers non-finite fail the check (exit 1 with the reason), never pass."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from cli_harness import expect_clean, expect_error
from fuzz_profile import FUZZ
from gguf_files import write_gguf
from hypothesis import given
from hypothesis import strategies as st


def verify(path: Path) -> list[str]:
    return ["verify", "functional", "--gguf", str(path), "--tokens", "2", "--json"]


@pytest.fixture(scope="module")
def good_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_gguf(tmp_path_factory.mktemp("gguf") / "tiny.gguf")


def test_whole_file_passes(good_gguf: Path) -> None:
    outcome = expect_clean(verify(good_gguf), allowed=(0,))
    data = json.loads(outcome.stdout)
    assert data["passed"] and data["tokens_match"] and math.isfinite(data["max_abs_err"])


BROKEN_NUMBERS = {
    "nan weight": {"poison": {"blk.0.attn_q.weight": math.nan}},
    "inf embedding": {"poison": {"token_embd.weight": math.inf}},
    "nan norm": {"poison": {"output_norm.weight": math.nan}},
}


@pytest.mark.parametrize("case", BROKEN_NUMBERS)
def test_non_finite_weights_fail_the_check(case: str, tmp_path: Path) -> None:
    outcome = expect_clean(verify(write_gguf(tmp_path / "w.gguf", **BROKEN_NUMBERS[case])), allowed=(1,))
    data = json.loads(outcome.stdout)
    assert data["passed"] is False and data["failures"]
    assert "not finite" in outcome.stderr


DAMAGED = {
    "head_count 0": ({"metadata": {"llama.attention.head_count": 0}}, "llama.attention.head_count"),
    "head_count_kv 0": ({"metadata": {"llama.attention.head_count_kv": 0}}, "head_count_kv"),
    "rope base 0": ({"metadata": {"llama.rope.freq_base": 0.0}}, "llama.rope.freq_base"),
    "rms eps nan": ({"metadata": {"llama.attention.layer_norm_rms_epsilon": math.nan}}, "layer_norm_rms_epsilon"),
    "no block count": ({"metadata": {"llama.block_count": None}}, "llama.block_count"),
    "more blocks than tensors": ({"metadata": {"llama.block_count": 2}}, "blk.1."),
    "heads do not divide": ({"metadata": {"llama.attention.head_count": 3}}, "head_count"),
    "missing tensor": ({"drop": ("blk.0.ffn_up.weight",)}, "blk.0.ffn_up.weight"),
    "missing embedding": ({"drop": ("token_embd.weight",)}, "token_embd.weight"),
    "wrong shape": ({"reshape": {"blk.0.attn_k.weight": (32, 128)}}, "blk.0.attn_k.weight"),
    "vocab below the prompt's ids": ({"vocab": 1000}, "token_embd.weight"),
}


@pytest.mark.parametrize("case", DAMAGED)
def test_damaged_metadata_and_tensors(case: str, tmp_path: Path) -> None:
    options, needle = DAMAGED[case]
    path = write_gguf(tmp_path / "d.gguf", **options)
    outcome = expect_error(verify(path), needle)
    assert str(path) in outcome.stderr


@pytest.mark.parametrize("cut", [0, 3, 24, 200, 5000, 1_000_000])
def test_truncated_files(cut: int, good_gguf: Path, tmp_path: Path) -> None:
    path = tmp_path / "cut.gguf"
    path.write_bytes(good_gguf.read_bytes()[:cut])
    assert str(path) in expect_error(verify(path)).stderr


@FUZZ
@given(flips=st.lists(st.tuples(st.integers(0, 4095), st.integers(0, 7)), min_size=1, max_size=16),
       cut=st.none() | st.integers(0, 6000))
def test_bit_flipped_header(flips, cut, good_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Flips in the first 4 KiB (header, metadata, tensor index): an error naming the file, or a verdict."""
    data = bytearray(good_gguf.read_bytes()[:cut] if cut is not None else good_gguf.read_bytes())
    for index, bit in flips:
        if index < len(data):
            data[index] ^= 1 << bit
    path = tmp_path_factory.mktemp("flip") / "f.gguf"
    path.write_bytes(bytes(data))
    outcome = expect_clean(verify(path), allowed=(0, 1, 2))
    if outcome.code == 2:
        assert str(path) in outcome.stderr
    else:
        data = json.loads(outcome.stdout)
        assert data["passed"] == (outcome.code == 0)
