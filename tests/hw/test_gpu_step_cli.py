"""``l3sim gpu step``: JSON keys, parts that add up, and agreement with the cost model's own pieces."""

from __future__ import annotations

import json

import pytest
from gpu_csv_helpers import run_spec
from typer.testing import CliRunner

from l3sim.cli import app
from l3sim.hw.gpu import GPUCostModel

RUNNER = CliRunner()
KEYS = {"total_s", "fc_s", "attention_s", "allreduce_s", "other_s", "per_op_s"}


def _step(*args: str) -> dict:
    result = RUNNER.invoke(app, ["gpu", "step", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.mark.parametrize("phase", ["decode", "prefill"])
@pytest.mark.parametrize("source", ["calibrated", "roofline"])
def test_keys_and_parts_add_up(phase, source):
    data = _step("--model", "llama-2-70b", "--batch", "32", "--context", "1000", "--phase", phase,
                 "--set", f"gpu.cost_source={source}")
    assert set(data) == KEYS
    parts = data["fc_s"] + data["attention_s"] + data["allreduce_s"] + data["other_s"]
    assert parts == pytest.approx(data["total_s"], rel=1e-12)
    assert sum(data["per_op_s"].values()) == pytest.approx(data["total_s"], rel=1e-12)
    assert set(data["per_op_s"]) == {"qkv_proj", "out_proj", "ffn", "other", "lm_head", "all_reduce", "attention"}
    assert data["allreduce_s"] > 0  # llama-2-70b runs at tp > 1 by default


def test_decode_step_matches_the_cost_model():
    # One decode iteration of 8 requests with 499 cached tokens each: FC over 8 tokens with 8 logits,
    # attention over 8 x 500 tokens (the new token attends too) with the request count.
    cost = GPUCostModel(run_spec("gpt-175b"))
    data = _step("--model", "gpt-175b", "--batch", "8", "--context", "499")
    assert data["attention_s"] == pytest.approx(cost.decode_attention_time_s(4000, 8), rel=1e-12)
    assert data["total_s"] == pytest.approx(cost.fc_time_s(8, 8) + cost.decode_attention_time_s(4000, 8), rel=1e-12)


def test_prefill_step_matches_the_cost_model():
    cost = GPUCostModel(run_spec("gpt-175b"))
    data = _step("--model", "gpt-175b", "--batch", "2", "--context", "1024", "--phase", "prefill")
    expected = cost.fc_time_s(2048, 2) + 2 * cost.prefill_attention_time_s(1024, 0)
    assert data["total_s"] == pytest.approx(expected, rel=1e-12)


def test_bad_phase_is_an_error():
    result = RUNNER.invoke(app, ["gpu", "step", "--batch", "1", "--context", "1", "--phase", "train"])
    assert result.exit_code != 0 and "decode or prefill" in str(result.exception)
