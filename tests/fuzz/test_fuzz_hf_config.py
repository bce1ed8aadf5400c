"""Hugging Face ``config.json`` values of every type through ``l3sim run --model config.json``.

The issue's cases (zero heads, a string or list ``hidden_size``, ``architectures: [1]``, OPT's
``max_position_embeddings`` null or a string) and random JSON values for every key: a clean error naming
the key, or a run with sane metrics.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_harness import expect_error, expect_sane_run
from corpus import HF_LLAMA, HF_OPT, RUN
from fuzz_profile import FUZZ
from hypothesis import given
from hypothesis import strategies as st


def run_config(config: dict, folder: Path):
    path = folder / "config.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    return ["run", "--model", str(path), *RUN[3:]]


CASES = [
    (HF_LLAMA, "num_attention_heads", 0),
    (HF_LLAMA, "hidden_size", "1024"),
    (HF_LLAMA, "hidden_size", [1024]),
    (HF_LLAMA, "hidden_size", 10.5),
    (HF_LLAMA, "hidden_size", True),
    (HF_LLAMA, "architectures", [1]),
    (HF_LLAMA, "architectures", "LlamaForCausalLM"),
    (HF_LLAMA, "num_key_value_heads", 3),
    (HF_LLAMA, "model_type", 7),
    (HF_LLAMA, "tie_word_embeddings", "yes"),
    (HF_OPT, "max_position_embeddings", "2048"),
    (HF_OPT, "ffn_dim", -1),
]


@pytest.mark.parametrize("base,key,value", CASES, ids=[f"{c[1]}={c[2]!r}" for c in CASES])
def test_bad_values_name_the_key(base: dict, key: str, value: object, tmp_path: Path) -> None:
    expect_error(run_config({**base, key: value}, tmp_path), key if key != "num_key_value_heads" else "num_")


def test_opt_null_positions_run(tmp_path: Path) -> None:
    """``max_position_embeddings: null`` means absent (no learned positions beyond OPT's offset of 2)."""
    expect_sane_run(run_config({**HF_OPT, "max_position_embeddings": None}, tmp_path))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)


@FUZZ
@given(base=st.sampled_from([HF_LLAMA, HF_OPT]), data=st.data())
def test_random_values(base: dict, data: st.DataObject, tmp_path_factory: pytest.TempPathFactory) -> None:
    config = dict(base)
    for key in data.draw(st.lists(st.sampled_from(sorted(base)), min_size=1, max_size=3, unique=True)):
        if data.draw(st.booleans()):
            config.pop(key)
        else:
            config[key] = data.draw(JSON)
    expect_sane_run(run_config(config, tmp_path_factory.mktemp("hf")))
