"""The engine with plans that hold a running decode back (a budget smaller than the running requests).

None of the built-in schedulers reaches this state on its own: a request is admitted only with at least one
token of budget of its own, so the running requests never outnumber ``max_batch_tokens``. The engine and
``ContinuousBatching`` still handle it (a scheduler may stall decodes, and a budget may shrink), and these
are the only tests that run those branches: the first gap of a decode that waited
(``request_advance.advance_requests``), the blocks that the waiting request holds while the others run a
closed-form stretch (``_iterations_until_full``), and the budget cut of ``ContinuousBatching._decoding``.
Expectations are by hand on the hand-checkable fake cost model of ``serving_fakes``.
"""

from __future__ import annotations

import numpy as np
import pytest
from serving_fakes import FakeCost, fake_system, run_spec

from l3sim.serving.engine import Engine
from l3sim.serving.kvstore import KVStore
from l3sim.serving.schedulers.continuous import ContinuousBatching
from l3sim.serving.state import ReplicaState, RequestTable

COST = FakeCost(kv_capacity_bytes=0)
PROMPT, OUTPUT, REQUESTS = 4, 3, 3


class ShrinkingBudget(ContinuousBatching):
    """Continuous batching whose token budget drops to 2 once requests are running (a budget that shrinks)."""

    def plan(self, state: ReplicaState):
        if state.running:
            self.max_batch_tokens = 2
        return super().plan(state)


def _run(closed_form: bool):
    table = RequestTable(ids=np.arange(REQUESTS), arrival_s=np.zeros(REQUESTS),
                         prompt_tokens=np.full(REQUESTS, PROMPT), output_tokens=np.full(REQUESTS, OUTPUT))
    kv = KVStore(capacity_blocks=100, block_tokens=16, watermark_blocks=0)
    scheduler = ShrinkingBudget(run_spec("serving.max_batch_tokens=64").serving)
    engine = Engine(fake_system(10_000), scheduler, kv, closed_form=closed_form)
    return table, engine.run(table)


def _hand_iterations() -> list[float]:
    """Durations of the five iterations, by hand.

    1: all three prompts (12 tokens, 3 logits); 2, 3: requests 0 and 1 decode (request 2 waits: budget 2),
    over p + 1 and p + 2 tokens each; 4, 5: request 2 decodes alone over p + 1 and p + 2 tokens.
    """
    prefill = COST.fc_time_s(3 * PROMPT, 3) + 3 * float(
        COST.prefill_attention_time_s(np.array([PROMPT]), np.array([0]))[0])
    pair = [COST.fc_time_s(2, 2) + COST.decode_attention_time_s(2 * (PROMPT + g)) for g in (1, 2)]
    alone = [COST.fc_time_s(1, 1) + COST.decode_attention_time_s(PROMPT + g) for g in (1, 2)]
    return [prefill, *pair, *alone]


@pytest.mark.parametrize("closed_form", [True, False])
def test_a_stalled_decode_gap_counts_its_wait(closed_form):
    table, rec = _run(closed_form)
    d = _hand_iterations()
    end = np.cumsum(d)
    assert rec.iterations == 5
    assert table.first_token_s.tolist() == pytest.approx([end[0]] * 3, rel=1e-12)
    assert table.finish_s.tolist() == pytest.approx([end[2], end[2], end[4]], rel=1e-12)
    # gaps: requests 0 and 1 one per iteration 2, 3; request 2 from its first token (end of 1) to the end
    # of 4, then iteration 5
    gaps = [d[1], d[1], d[2], d[2], d[1] + d[2] + d[3], d[4]]
    assert rec.tbt_s.count == len(gaps)
    assert rec.tbt_s.mean() == pytest.approx(np.mean(gaps), rel=1e-12)
    assert rec.tbt_s.quantiles((1.0,))[0] == pytest.approx(max(gaps), rel=1e-12)


def test_the_waiting_request_holds_its_blocks_through_a_closed_form_stretch():
    """With 1 block of 4 tokens per request and 3 blocks in all, the two decoding requests need a second
    block at their 5th token: the stretch must stop there, counting the stalled request's block."""
    table = RequestTable(ids=np.arange(3), arrival_s=np.zeros(3), prompt_tokens=np.full(3, 4),
                         output_tokens=np.full(3, 3))
    kv = KVStore(capacity_blocks=4, block_tokens=4, watermark_blocks=0)
    state = ReplicaState(table, kv, running=[0, 1, 2])
    table.prefill_done[:] = table.prefill_target
    table.kv_tokens[:], table.generated[:], table.reserved_blocks[:] = 4, 1, 1
    table.output_tokens[:] = 10
    engine = Engine(fake_system(10_000), ShrinkingBudget(run_spec().serving), kv)
    # requests 0 and 1 at 4 tokens: iteration j stores 5 + j, needing 2 blocks each from j = 0 on; with the
    # stalled request's 1 block that is 5 > 4: no iteration fits (the scheduler would pre-empt first)
    assert engine._iterations_until_full(state, np.array([0, 1]), 9) == 0
    kv_roomy = KVStore(capacity_blocks=5, block_tokens=4, watermark_blocks=0)
    state_roomy = ReplicaState(table, kv_roomy, running=[0, 1, 2])
    # 5 blocks: 2 + 2 + 1 fit while each holds <= 8 tokens, i.e. iterations j = 0..3 (5 + j <= 8)
    assert Engine(fake_system(10_000), ShrinkingBudget(run_spec().serving), kv_roomy)._iterations_until_full(
        state_roomy, np.array([0, 1]), 9) == 4
