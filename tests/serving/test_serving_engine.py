"""Engine behaviour: hand-computed timings, closed form vs stepping, invariants, capacity, DP."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from serving_fakes import FakeCost, Req, fake_system, run_spec

from l3sim.errors import ConfigError
from l3sim.serving import serve
from l3sim.serving.engine import Engine
from l3sim.serving.kvstore import KVStore
from l3sim.serving.schedulers import build_scheduler
from l3sim.serving.state import RequestTable
from l3sim.serving.schedulers import scheduler_names
from l3sim.serving.systems import build_system, system_names

COST = FakeCost(kv_capacity_bytes=0)


def _table(reqs: list[Req]) -> RequestTable:
    return RequestTable(
        ids=np.array([r.id for r in reqs]),
        arrival_s=np.array([r.arrival_s for r in reqs], dtype=float),
        prompt_tokens=np.array([r.prompt_tokens for r in reqs]),
        output_tokens=np.array([r.output_tokens for r in reqs]),
    )


def test_single_request_matches_hand_computation() -> None:
    p, o = 37, 25
    result = serve(fake_system(10_000), [Req(0, 0.5, p, o)], run_spec())
    # Prefill: all p tokens in one chunk, one logit; first token at its end.
    ttft = COST.fc_time_s(p, 1) + float(COST.prefill_attention_time_s(np.array([p]), np.array([0]))[0])
    # Decode g = 1..o-1: the request appends token g and attends over p + g tokens.
    gaps = [COST.fc_time_s(1, 1) + COST.decode_attention_time_s(p + g) for g in range(1, o)]
    row = result.requests_table.iloc[0]
    assert row["ttft_s"] == pytest.approx(ttft, rel=1e-12)
    assert row["e2e_s"] == pytest.approx(ttft + sum(gaps), rel=1e-12)
    assert result.tbt_s["mean"] == pytest.approx(np.mean(gaps), rel=1e-12)
    assert result.tbt_s["p50"] == pytest.approx(np.quantile(gaps, 0.5, method="inverted_cdf"), rel=1e-12)
    assert result.makespan_s == pytest.approx(ttft + sum(gaps), rel=1e-12)
    assert result.throughput_tok_s == pytest.approx(o / (ttft + sum(gaps)), rel=1e-12)
    assert result.avg_batch_size == 1.0 and result.iterations == o


def test_identical_batch_offline_matches_hand_computation() -> None:
    batch, p, o = 6, 20, 9
    reqs = [Req(i, 0.0, p, o) for i in range(batch)]
    result = serve(fake_system(10_000), reqs, run_spec())
    prefill = COST.fc_time_s(batch * p, batch) + batch * float(
        COST.prefill_attention_time_s(np.array([p]), np.array([0]))[0]
    )
    steps = [COST.fc_time_s(batch, batch) + COST.decode_attention_time_s(batch * (p + g)) for g in range(1, o)]
    assert np.allclose(result.requests_table["ttft_s"], prefill, rtol=1e-12)
    assert np.allclose(result.requests_table["e2e_s"], prefill + sum(steps), rtol=1e-12)
    assert result.avg_batch_size == batch
    # iteration latencies: one prefill iteration and the o-1 decode steps
    assert result.iteration_latency_s["mean"] == pytest.approx(np.mean([prefill] + steps), rel=1e-12)
    # stored tokens at the end of each iteration, time-weighted, over capacity
    stored = [batch * p] + [batch * (p + g) for g in range(1, o)]
    durations = [prefill] + steps
    expected_util = np.dot(stored, durations) / (10_000 * sum(durations))
    assert result.kv_util_mean == pytest.approx(expected_util, rel=1e-12)


def test_token_budget_chunks_a_long_prompt() -> None:
    p, budget = 1000, 256
    result = serve(fake_system(10_000), [Req(0, 0.0, p, 2)], run_spec(f"serving.max_batch_tokens={budget}"))
    chunks = [256, 256, 256, 232]
    done = np.cumsum([0] + chunks[:-1])
    prefill = sum(COST.fc_time_s(c, 0) for c in chunks[:-1]) + COST.fc_time_s(chunks[-1], 1)
    prefill += float(COST.prefill_attention_time_s(np.array(chunks), done).sum())
    assert result.requests_table.iloc[0]["ttft_s"] == pytest.approx(prefill, rel=1e-12)
    assert result.iterations == len(chunks) + 1


workloads = st.lists(
    st.tuples(st.floats(0, 3, allow_nan=False), st.integers(1, 120), st.integers(1, 200)), min_size=1, max_size=14
)


@settings(max_examples=40, deadline=None)
@given(
    workloads,
    st.integers(300, 1500),
    st.sampled_from([1, 4, 16]),
    st.sampled_from([64, 100_000]),
    st.sampled_from(["prompt", "full"]),
    st.sampled_from([0, 3]),
)
# Nothing fits (299 tokens + the free watermark > 300): no iteration runs and the average batch is NaN in both.
@example([(0.0, 99, 200)], 300, 1, 64, "prompt", 0)
def test_closed_form_equals_stepping(raw, capacity, block, budget, reservation, max_seqs) -> None:
    reqs = [Req(i, a, p, o) for i, (a, p, o) in enumerate(raw)]
    knobs = [
        f"serving.kv_block_tokens={block}",
        f"serving.max_batch_tokens={budget}",
        f'serving.kv_reservation="{reservation}"',
        f"serving.max_num_seqs={max_seqs}",
    ]
    fast = serve(fake_system(capacity), reqs, run_spec(*knobs)).to_dict()
    slow = serve(fake_system(capacity), reqs, run_spec(*knobs, 'serving.stepping="per-iteration"')).to_dict()
    for key in ("requests_served", "never_fit_ids", "output_tokens", "iterations", "preemptions", "avg_batch_size"):
        np.testing.assert_equal(fast[key], slow[key], err_msg=key)  # NaN equals NaN (no iteration ran)
    for key in ("makespan_s", "throughput_tok_s", "kv_util_mean", "kv_util_peak"):
        assert fast[key] == pytest.approx(slow[key], rel=1e-9, nan_ok=True), key
    for key in ("ttft_s", "tbt_s", "e2e_s", "iteration_latency_s"):
        for stat in ("mean", "p50", "p99"):
            assert fast[key][stat] == pytest.approx(slow[key][stat], rel=1e-9, nan_ok=True), (key, stat)


@settings(max_examples=40, deadline=None)
@given(workloads, st.integers(200, 1200), st.sampled_from([1, 8]), st.booleans())
def test_engine_invariants(raw, capacity, block, closed_form) -> None:
    reqs = [Req(i, a, p, o) for i, (a, p, o) in enumerate(raw)]
    kv = KVStore(capacity // block, block, 0)
    table = _table(reqs)
    fit = ~kv.never_fits(table.prompt_tokens, table.output_tokens)
    table = _table([r for r, ok in zip(reqs, fit) if ok])
    system = fake_system(capacity)
    rec = Engine(system, build_scheduler("continuous", run_spec().serving), kv, closed_form=closed_form).run(table)
    # every output token produced exactly once
    assert np.array_equal(table.generated, table.output_tokens)
    assert rec.tokens_produced == int(table.output_tokens.sum())
    # KV never above capacity, and everything freed at the end
    rows = rec.to_rows()
    if rows.size:
        assert rows[:, 10].max() <= kv.capacity_blocks
        # time monotone: segments are back to back or separated by idle time
        assert np.all(rows[:, 2] > rows[:, 1])
        assert np.all(rows[1:, 1] >= rows[:-1, 2])
    assert not table.kv_tokens.any() and not table.reserved_blocks.any()
    assert np.all(table.first_token_s > table.arrival_s)
    assert np.all(table.finish_s >= table.first_token_s)
    assert np.all(table.last_token_s == table.finish_s)


def test_preemption_by_recompute_and_full_reservation_avoids_it() -> None:
    # Three requests that fit alone but not together at the end of their outputs.
    reqs = [Req(i, 0.0, 50, 400) for i in range(3)]
    squeezed = serve(fake_system(1000), reqs, run_spec("serving.kv_block_tokens=1", "serving.admission_watermark_fraction=0"))
    assert squeezed.preemptions > 0
    assert squeezed.output_tokens == 1200 and squeezed.requests_served == 3
    table = squeezed.requests_table
    assert table["preemptions"].sum() == squeezed.preemptions
    # the latest admitted (highest id here) is the victim first
    assert table.loc[table["id"] == 2, "preemptions"].item() >= 1
    assert table.loc[table["id"] == 0, "preemptions"].item() == 0
    reserved = serve(
        fake_system(1000), reqs, run_spec("serving.kv_block_tokens=1", 'serving.kv_reservation="full"')
    )
    assert reserved.preemptions == 0 and reserved.output_tokens == 1200
    # 449 tokens each: two fit in 1000 tokens, the third waits for a finish
    assert reserved.avg_batch_size < 3


def test_request_that_never_fits_is_reported_not_dropped() -> None:
    reqs = [Req(0, 0.0, 10, 10), Req(1, 0.0, 500, 600), Req(2, 0.0, 10, 20)]
    result = serve(fake_system(1000), reqs, run_spec("serving.admission_watermark_fraction=0"))
    assert result.never_fit_ids == [1]
    assert result.to_dict()["requests_never_fit"] == 1
    assert result.requests_served == 2 and result.output_tokens == 30
    assert any("never fit" in w and "1" in w for w in result.warnings)
    row = result.requests_table.set_index("id").loc[1]
    assert row["status"] == "never-fits" and math.isnan(row["ttft_s"])


def test_weights_that_do_not_fit_give_an_oom_result() -> None:
    system = fake_system(0, fits=False, does_not_fit_reason="weights need 350 GB, GPUs hold 320 GB")
    result = serve(system, [Req(0, 0.0, 10, 10)], run_spec())
    data = result.to_dict()
    assert data["oom"] is True and "350 GB" in data["oom_reason"]
    assert data["output_tokens"] == 0 and math.isnan(data["throughput_tok_s"])


def test_data_parallel_round_robin_and_throughput() -> None:
    reqs = [Req(i, 0.1 * (7 - i), 30, 40 + i) for i in range(8)]
    result = serve(fake_system(5000), reqs, run_spec(dp=3))
    table = result.requests_table.sort_values(["arrival_s", "id"])
    assert list(table["replica"]) == [k % 3 for k in range(8)]
    finish = table["arrival_s"] + table["e2e_s"]
    makespan = finish.max() - table["arrival_s"].min()
    assert result.makespan_s == pytest.approx(makespan, rel=1e-12)
    assert result.throughput_tok_s == pytest.approx(sum(40 + i for i in range(8)) / makespan, rel=1e-12)


def test_unknown_names_list_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="gpu-only"):
        build_system(run_spec().model_copy(update={"system": "warp-drive"}))
    with pytest.raises(ConfigError, match="continuous"):
        serve(fake_system(100), [Req(0, 0.0, 1, 1)], run_spec().model_copy(update={"scheduler": "magic"}))
    assert "gpu-only" in system_names() and "continuous" in scheduler_names()


def test_bad_request_fields_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="request id 4: output_tokens"):
        serve(fake_system(100), [Req(4, 0.0, 3, 0)], run_spec())
