"""The engine's bookkeeping on a toy system whose costs are exact binary fractions, checked by hand.

The toy system times an iteration as 0.25 s per dense-layer token plus 0.125 s per token of decode context (a
decode attends over its stored tokens and the one it appends), so every duration, sum and start time below
is exact in floating point and is written out by hand. Besides the times, each iteration reports a busy time,
a count (the decode context), one timeline phase and one account term, so that what the engine records of a
stretch (the recorder's sums, segments, timeline, account rows), the hooks it calls (``place``,
``observe``), the replica label, the steady window, the measured window of the SLO metrics, the arrivals cut
of a stretch and the pre-emption counts are all pinned. Every run goes through ``Guard``, which fails a run
that plans far more iterations than the hand count: an engine that stops advancing fails in bounded time
instead of hanging. Written against the mutants mutmut left alive in ``serving/engine.py`` (docs/testing.md).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from serving_fakes import SilentArrivals, run_spec

from l3sim.serving.arrivals import ClosedLoopArrivals
from l3sim.serving.engine import Engine, _last_true
from l3sim.serving.kvstore import KVStore
from l3sim.serving.plan import IterationCost, IterationPlan, Phase, SegmentCost
from l3sim.serving.schedulers.continuous import ContinuousBatching
from l3sim.serving.state import ReplicaState, RequestTable
from l3sim.serving.systems.base import System

PER_TOKEN_S = 0.25  # dense layers, per token of the iteration
PER_CONTEXT_S = 0.125  # decode attention, per token attended over


class Toy(System):
    """Exact costs (module docstring); records the engine's ``place`` calls."""

    name = "toy"
    resources = ("gpu",)
    default_scheduler = "continuous"
    kv_bytes_per_token = 1
    kv_capacity_bytes = 1e9
    fits = True
    does_not_fit_reason = ""

    def __init__(self, valid_iterations: int | None = None, per_token_s: float = PER_TOKEN_S,
                 per_context_s: float = PER_CONTEXT_S) -> None:
        self.valid_iterations = valid_iterations  # None: a segment is valid for as long as asked
        self.per_token_s, self.per_context_s = per_token_s, per_context_s
        self.placed: list[tuple[list[int], ReplicaState]] = []
        self.placed_dtypes: list[np.dtype] = []

    @staticmethod
    def _cost(duration: float, context: int) -> IterationCost:
        return IterationCost(duration, {"gpu": duration}, {"context": context},
                             (Phase("gpu", 0.0, duration, "iteration"),), account=(duration,))

    def iteration_cost(self, plan: IterationPlan, table: RequestTable) -> IterationCost:
        context = int(table.kv_tokens[plan.decode_ids].sum()) + plan.decode_ids.size
        return self._cost(self.per_token_s * plan.num_tokens + self.per_context_s * context, context)

    def segment_cost(self, plan: IterationPlan, table: RequestTable, max_iterations: int) -> SegmentCost:
        batch = plan.decode_ids.size
        context = int(table.kv_tokens[plan.decode_ids].sum()) + batch
        first = self._cost(self.per_token_s * batch + self.per_context_s * context, context)
        grow = self.per_context_s * batch  # every context grows by one token per iteration
        increment = IterationCost(grow, {"gpu": grow}, {"context": batch})
        valid = max_iterations if self.valid_iterations is None else min(max_iterations, self.valid_iterations)
        return SegmentCost(first, increment, valid)

    def place(self, ids: np.ndarray, state: ReplicaState) -> None:
        self.placed.append((ids.tolist(), state))
        self.placed_dtypes.append(ids.dtype)


class Guard(ContinuousBatching):
    """Continuous batching that records what the engine tells it and fails after ``limit`` plans."""

    def __init__(self, limit: int = 40, **knobs) -> None:
        super().__init__(run_spec(*(f"serving.{k}={v}" for k, v in knobs.items())).serving)
        self.limit, self.plans = limit, 0
        self.observed: list[tuple[IterationPlan, IterationCost]] = []

    def plan(self, state: ReplicaState) -> IterationPlan:
        self.plans += 1
        assert self.plans <= self.limit, "the engine keeps planning: it no longer advances"
        return super().plan(state)

    def observe(self, plan: IterationPlan, cost: IterationCost) -> None:
        self.observed.append((plan, cost))


def _table(prompts, outputs, arrivals=None) -> RequestTable:
    n = len(prompts)
    return RequestTable(ids=np.arange(n), arrival_s=np.zeros(n) if arrivals is None else np.array(arrivals, float),
                        prompt_tokens=np.array(prompts), output_tokens=np.array(outputs))


KV = KVStore(capacity_blocks=1000, block_tokens=4, watermark_blocks=0)

# One request, prompt 4, 5 outputs. Iteration 1 prefills 4 tokens: 4 x 0.25 = 1.0 s (token 1). Decode g = 1..4
# stores 4 + g - 1 tokens and attends over 4 + g: 0.25 + 0.125 (4 + g) = 0.875, 1.0, 1.125, 1.25 s.
PREFILL = 1.0
DECODES = [0.875, 1.0, 1.125, 1.25]
END = PREFILL + sum(DECODES)  # 5.25


def test_one_request_every_record_by_hand():
    system, scheduler, table = Toy(), Guard(), _table([4], [5])
    rec = Engine(system, scheduler, KV, replica=2).run(table)
    assert table.first_token_s.tolist() == [PREFILL] and table.finish_s.tolist() == [END]
    # closed form (the default): the prefill, then the four decodes as one stretch
    assert [row[:7] for row in rec.segments] == [(2, 0.0, PREFILL, 1, 1, 0, 4), (2, PREFILL, END, 4, 1, 1, 0)]
    # first latency, increment (0.125 per iteration), KV tokens at the end (4 after the prefill, 4 + 4 after)
    assert [row[7:10] for row in rec.segments] == [(PREFILL, 0.0, 4), (0.875, 0.125, 8)]
    assert [row[:4] for row in rec.timeline] == [(2, 0.0, PREFILL, 1), (2, PREFILL, END, 4)]
    assert [row[4] for row in rec.timeline] == [(Phase("gpu", 0.0, PREFILL, "iteration"),),
                                                (Phase("gpu", 0.0, 0.875, "iteration"),)]
    assert rec.account == [(0, PREFILL), (0, 0.875)]  # nobody waits during either stretch
    assert rec.replica == 2
    assert rec.busy_s == {"gpu": END}
    assert rec.counts == {"context": 5 + 6 + 7 + 8}  # the prefill attends over nothing
    assert rec.iterations == 5 and rec.iteration_s.count == 5
    assert rec.iteration_s.mean() == END / 5
    assert rec.iterating_s == END and rec.tokens_produced == 5 and rec.batch_request_iterations == 5
    assert rec.tbt_s.count == 4 and rec.tbt_s.mean() == sum(DECODES) / 4
    # stored tokens at each iteration's end x its duration: 4 x 1.0 + 5 x 0.875 + 6 x 1.0 + 7 x 1.125 + 8 x 1.25
    assert rec.kv_token_seconds == 32.25
    # the scheduler is told the cost of each stretch's first iteration
    assert [cost.duration_s for _, cost in scheduler.observed] == [PREFILL, 0.875]
    assert [plan.prefill_ids.tolist() for plan, _ in scheduler.observed] == [[0], []]
    assert [plan.decode_ids.tolist() for plan, _ in scheduler.observed] == [[], [0]]
    # the system places the admitted request, on the engine's state
    assert [ids for ids, _ in system.placed] == [[0]]
    assert system.placed[0][1].table is table
    # the first iteration began with the request waiting for admission: the steady window ends with it
    assert rec.steady_end_s == PREFILL and rec.steady_tokens == 1


def test_defaults_are_replica_0_and_closed_form():
    table = _table([4], [5])
    rec = Engine(Toy(), Guard(), KV).run(table)
    assert rec.replica == 0
    assert [row[0] for row in rec.segments] == [0, 0] and [row[0] for row in rec.timeline] == [0, 0]
    assert [row[3] for row in rec.segments] == [1, 4]  # one stretch of four decodes
    stepped = _table([4], [5])
    rec = Engine(Toy(), Guard(), KV, closed_form=False).run(stepped)
    assert [row[3] for row in rec.segments] == [1, 1, 1, 1, 1]
    assert stepped.finish_s.tolist() == table.finish_s.tolist() == [END]


def test_a_stretch_stops_at_the_systems_valid_range():
    """A segment valid for 3 iterations: the four decodes run as 3 + 1; the second stretch starts over at
    the context it reached (attending over 8 tokens: 1.25 s)."""
    table = _table([4], [5])
    rec = Engine(Toy(valid_iterations=3), Guard(), KV).run(table)
    assert [row[3] for row in rec.segments] == [1, 3, 1]
    assert [row[7] for row in rec.segments] == [PREFILL, 0.875, 1.25]
    assert table.finish_s.tolist() == [END]


@pytest.mark.parametrize("closed_form", [True, False])
def test_a_stretch_stops_before_the_next_arrival(closed_form):
    """Request 0 (prompt 4, 6 outputs) at 0, request 1 (prompt 4, 2 outputs) at 2.5 s. Request 0 prefills
    (1.0 s); its decodes start at 1.0, 1.875, 2.875: two start before the arrival, so the stretch is 2
    iterations (ending 2.875); then request 1 prefills beside request 0's third decode (5 tokens, context 7:
    1.25 + 0.875 = 2.125 s, ending 5.0), then both decode (2 tokens, contexts 8 + 5: 0.5 + 1.625 = 2.125 s,
    ending 7.125; request 1 is done) and request 0 decodes alone over 9 tokens (0.25 + 1.125 = 1.375 s,
    ending 8.5)."""
    table = _table([4, 4], [6, 2], arrivals=[0.0, 2.5])
    rec = Engine(Toy(), Guard(), KV, closed_form=closed_form).run(table)
    assert table.first_token_s.tolist() == [1.0, 5.0]
    assert table.finish_s.tolist() == [8.5, 7.125]
    if closed_form:
        assert [(row[1], row[2], row[3]) for row in rec.segments] == [
            (0.0, 1.0, 1), (1.0, 2.875, 2), (2.875, 5.0, 1), (5.0, 7.125, 1), (7.125, 8.5, 1)]
    # iterations that began with request 1 waiting or still to come: all up to the one that admits it
    assert rec.steady_end_s == 5.0 and rec.steady_tokens == 4 + 1  # request 0's first 4 tokens, request 1's first


def test_an_arrival_exactly_at_an_iteration_start_joins_that_iteration():
    """Request 1 arrives at 2.875 s, exactly when request 0's third decode would start: the stretch stops
    after two decodes and request 1 is admitted into the iteration starting at 2.875 (first token at 5.0)."""
    table = _table([4, 4], [6, 2], arrivals=[0.0, 2.875])
    rec = Engine(Toy(), Guard(), KV).run(table)
    assert [row[3] for row in rec.segments][:3] == [1, 2, 1]
    assert table.first_token_s.tolist() == [1.0, 5.0]
    assert table.finish_s.tolist() == [8.5, 7.125]


def test_an_idle_replica_jumps_to_the_next_arrival():
    """Request 1 arrives at 10 s, after request 0 finished (5.25): the replica idles, then prefills it at 10."""
    table = _table([4, 4], [5, 1], arrivals=[0.0, 10.0])
    rec = Engine(Toy(), Guard(), KV).run(table)
    assert table.finish_s.tolist() == [END, 11.0]
    assert rec.segments[-1][1:3] == (10.0, 11.0)
    assert rec.iterating_s == END + 1.0


def test_a_closed_loop_releases_the_next_request_at_each_finish():
    """One request in the system: request 1 arrives when request 0 finishes (5.25 s) and then runs alone."""
    table = _table([4, 4], [5, 5])
    progress: list[int] = []
    Engine(Toy(), Guard(), KV).run(table, progress=progress.append, arrivals=ClosedLoopArrivals(table, 1))
    assert table.arrival_s.tolist() == [0.0, END]
    assert table.first_token_s.tolist() == [PREFILL, END + PREFILL]
    assert table.finish_s.tolist() == [END, 2 * END]
    assert progress == [1, 1]


def test_the_measured_requests_gaps_are_kept_apart():
    """Two identical requests run side by side (prefill 8 tokens: 2.0 s; decodes of 2 tokens over contexts
    2 x (4 + g): 0.5 + 0.25 (4 + g) = 1.75, 2.0 s); only request 1 is measured: its 2 gaps alone."""
    table = _table([4, 4], [3, 3])
    table.measured = np.array([False, True])
    rec = Engine(Toy(), Guard(), KV).run(table)
    assert table.finish_s.tolist() == [5.75, 5.75]
    assert rec.tbt_s.count == 4 and rec.tbt_measured_s.count == 2
    assert rec.tbt_measured_s.mean() == (1.75 + 2.0) / 2
    assert list(rec.tbt_measured_s.quantiles((0.5, 1.0))) == [1.75, 2.0]


class PreemptTwice(Guard):
    """Pre-empts request 1 in a plan of its own each time both requests decode, twice; records what request
    1 holds while it waits."""

    def __init__(self) -> None:
        super().__init__()
        self.preempted = 0
        self.waiting_holds: list[tuple[int, int]] = []

    def plan(self, state: ReplicaState) -> IterationPlan:
        table = state.table
        if 1 in state.waiting and self.preempted:
            self.waiting_holds.append((int(table.reserved_blocks[1]), int(table.kv_tokens[1])))
        decoding = [r for r in state.running if table.prefill_done[r] >= table.prefill_target[r]]
        if self.preempted < 2 and len(decoding) == 2:
            self.preempted += 1
            self.plans += 1
            return IterationPlan(preempt_ids=(1,))
        return super().plan(state)


def test_each_preemption_is_counted():
    """Request 1 is pre-empted twice: the table and the recorder count 2, and while it waits it holds no
    KV blocks and no stored tokens."""
    table = _table([4, 4], [6, 6])
    scheduler = PreemptTwice()
    rec = Engine(Toy(), scheduler, KV).run(table)
    assert scheduler.preempted == 2
    assert table.preemptions.tolist() == [0, 2] and rec.preemptions == 2
    assert scheduler.waiting_holds and set(scheduler.waiting_holds) == {(0, 0)}
    assert table.generated.tolist() == [6, 6]


class NarrowIds(Guard):
    """Hands out its admissions as 32-bit integers (as a scheduler working on int32 arrays would)."""

    def plan(self, state: ReplicaState) -> IterationPlan:
        plan = super().plan(state)
        return replace(plan, admit_ids=tuple(np.int32(rid) for rid in plan.admit_ids))


def test_the_system_places_admissions_as_int64_ids():
    """Whatever integers a scheduler admits with, ``place`` gets an int64 index array (two requests admitted
    together, then nothing more to place)."""
    system = Toy()
    Engine(system, NarrowIds(), KV).run(_table([4, 4], [2, 2]))
    assert [ids for ids, _ in system.placed] == [[0, 1]]
    assert system.placed_dtypes == [np.dtype(np.int64)]


def test_a_prompt_prefilled_in_chunks():
    """Prompt 10 under a budget of 4 tokens: chunks of 4, 4, 2 (1.0, 1.0, 0.5 s; the last yields the first
    token at 2.5 s), then one decode over 11 tokens (0.25 + 1.375 = 1.625 s): done at 4.125 s. The KV cache
    holds 4, 8, 10, then 11 tokens."""
    table = _table([10], [2])
    rec = Engine(Toy(), Guard(max_batch_tokens=4), KV).run(table)
    assert table.first_token_s.tolist() == [2.5] and table.finish_s.tolist() == [4.125]
    assert [row[6] for row in rec.segments] == [4, 4, 2, 0]  # prefill tokens of each iteration
    assert [row[9] for row in rec.segments] == [4, 8, 10, 11]
    assert rec.tokens_produced == 2 and rec.tbt_s.count == 1


@pytest.mark.parametrize("closed_form", [True, False])
def test_a_decode_right_after_its_last_token_has_the_iterations_duration_exactly(closed_form):
    """0.1 s per token and per context token (not binary fractions): prompt 2 prefills in 0.1 x 2 s, then
    one decode over 3 tokens costs 0.1 x 1 + 0.1 x 3 s. Its gap is that duration itself, not the difference
    of the two token times (which rounds differently here: 0.2 + 0.4 - 0.2 != 0.4 in floating point)."""
    table = _table([2], [2])
    rec = Engine(Toy(per_token_s=0.1, per_context_s=0.1), Guard(), KV, closed_form=closed_form).run(table)
    decode = 0.1 * 1 + 0.1 * 3
    assert rec.tbt_s.count == 1
    assert rec.tbt_s.quantiles((1.0,))[0] == decode and rec.tbt_s.mean() == decode


class _Idle(Guard):
    name = "idle"

    def plan(self, state: ReplicaState) -> IterationPlan:
        self.plans += 1
        assert self.plans <= self.limit, "the engine keeps asking after an empty plan"
        return IterationPlan()


class _SkipsTheFirst(Guard):
    def plan(self, state: ReplicaState) -> IterationPlan:
        rid = state.waiting[1]
        return IterationPlan(prefill_ids=np.array([rid]), prefill_chunk_tokens=np.array([4]),
                             prefill_done_tokens=np.array([0]), admit_ids=(rid,))


def test_the_engines_errors_in_full():
    """Each broken contract stops the run with its whole message."""
    small = KVStore(capacity_blocks=2, block_tokens=4, watermark_blocks=0)
    with pytest.raises(ValueError) as caught:
        Engine(Toy(), Guard(), small).run(_table([4], [6]))  # stores up to 9 tokens: 3 blocks
    assert str(caught.value) == "requests that never fit the KV cache must be filtered out before the engine"
    with pytest.raises(RuntimeError) as caught:
        Engine(Toy(), Guard(), KV).run(_table([4], [2]), arrivals=SilentArrivals())
    assert str(caught.value) == "no request in the system and none to arrive before all finished"
    with pytest.raises(RuntimeError) as caught:
        Engine(Toy(), _Idle(), KV).run(_table([4], [2]))
    assert str(caught.value) == "scheduler 'idle' planned nothing with work queued"
    with pytest.raises(RuntimeError) as caught:
        Engine(Toy(), _SkipsTheFirst(), KV).run(_table([4, 4], [2, 2]))
    assert str(caught.value) == "admissions must come from the front of the waiting queue"


# ---- the searched capacity bound and the bisection -------------------------------------------------------
def test_a_searched_stretch_may_end_exactly_full():
    """Two decoding requests storing 4 tokens with 3 blocks of 4 reserved: iteration j stores 5 + j tokens,
    3 blocks each while 5 + j <= 12, 4 while <= 16, 5 after. With 8 blocks, iterations j = 0..11 fit (8
    blocks: exactly full) and j = 12 does not (10): 12 iterations."""
    table = _table([4, 4], [50, 50])
    kv = KVStore(capacity_blocks=8, block_tokens=4, watermark_blocks=0)
    table.prefill_done[:] = table.prefill_target
    table.kv_tokens[:], table.generated[:], table.reserved_blocks[:] = 4, 1, 3
    state = ReplicaState(table, kv, running=[0, 1])
    ids = np.array([0, 1])
    assert kv.iterations_that_fit(0, table.reserved_blocks[ids], table.kv_tokens[ids], 30) is None  # the search
    engine = Engine(Toy(), Guard(), kv)
    assert engine._iterations_until_full(state, ids, 30) == 12
    assert engine._iterations_until_full(state, ids, 12) == 12
    assert engine._iterations_until_full(state, ids, 11) == 11


def _counting(threshold: int, limit: int):
    """Predicate j <= threshold that fails the test after more calls than a bisection of ``limit`` needs."""
    calls = []
    bound = 2 + math.ceil(math.log2(max(limit, 2)))

    def predicate(j: int) -> bool:
        assert 0 <= j < limit, f"asked outside [0, {limit}): {j}"
        calls.append(j)
        assert len(calls) <= bound, "bisection does not converge"
        return j <= threshold

    return predicate


@pytest.mark.parametrize("limit", [1, 2, 3, 4, 5, 8, 13, 64])
def test_last_true_finds_the_last_index_where_the_predicate_holds(limit):
    for threshold in range(limit):
        assert _last_true(limit, _counting(threshold, limit)) == threshold, threshold
