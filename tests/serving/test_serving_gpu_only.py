"""The GPU-only system on the real GPU cost model: paper-derived capacity, both stepping modes agree."""

from __future__ import annotations

import pytest

from l3sim.serving import simulate
from l3sim.spec.run import build_run_spec


def _spec(*overrides: str, requests: int = 12):
    return build_run_spec(list(overrides), platform="dgx-a100", model="gpt-175b", workload="dolphin-short", requests=requests)


def test_kv_capacity_matches_the_papers_310_gb() -> None:
    result = simulate(_spec(requests=2))
    # L3 paper: about 310 GB of HBM left for KV after GPT-175B's weights on 8 x A100-80GB;
    # one token's K and V over 96 layers of 12288 FP16 values: 2 x 96 x 12288 x 2 bytes.
    expected_tokens = 310e9 / (2 * 96 * 12288 * 2)
    assert result.kv_capacity_tokens == pytest.approx(expected_tokens, rel=0.03)


def test_closed_form_equals_stepping_on_the_roofline() -> None:
    knobs = ("serving.max_num_seqs=4",)
    fast = simulate(_spec(*knobs)).to_dict()
    slow = simulate(_spec(*knobs, 'serving.stepping="per-iteration"')).to_dict()
    assert fast["iterations"] == slow["iterations"] and fast["output_tokens"] == slow["output_tokens"]
    for key in ("makespan_s", "throughput_tok_s", "kv_util_mean"):
        assert fast[key] == pytest.approx(slow[key], rel=1e-9)
    for key in ("ttft_s", "tbt_s", "e2e_s", "iteration_latency_s"):
        for stat in ("mean", "p50", "p99"):
            assert fast[key][stat] == pytest.approx(slow[key][stat], rel=1e-9), (key, stat)


def test_bigger_batches_raise_throughput_and_step_time() -> None:
    # FC cost is shared by the batch, so throughput grows with the batch while each step gets slower.
    small = simulate(_spec("serving.max_num_seqs=1", requests=8))
    large = simulate(_spec("serving.max_num_seqs=8", requests=8))
    assert large.throughput_tok_s > 2 * small.throughput_tok_s
    assert large.iteration_latency_s["p50"] > small.iteration_latency_s["p50"]
