"""The event loop of one model replica: time, request lifecycle, KV accounting, metrics.

Each turn: move arrived requests to the waiting queue, ask the scheduler for
a plan, apply its pre-emptions and admissions, ask the system what the plan
costs (and tell the scheduler what it cost, ``observe(plan, cost)``, as a
serving system measures its iterations), advance the clock and every request
in it. A plan the scheduler marks steady (decode only, nothing to admit; its
pre-emptions, if any, applied first) is advanced k iterations at once in
closed form, k being the first event: a request finishing, KV blocks running
out, the next arrival, or the end of the system's affine cost range.
Because iteration j of such a stretch costs ``first + j * increment`` exactly
(every context grows by one token per iteration and decode cost is linear in
total context), this gives the same times and samples as stepping; the
``per-iteration`` mode steps anyway and is the reference the tests compare with.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from l3sim.serving import request_advance
from l3sim.serving.arrivals import ArrivalSource, TimedArrivals
from l3sim.serving.kvstore import KVStore
from l3sim.serving.plan import IterationCost, IterationPlan
from l3sim.serving.recorder import Recorder, arithmetic_sum
from l3sim.serving.schedulers import Scheduler
from l3sim.serving.state import ReplicaState, RequestTable
from l3sim.serving.systems.base import System
from l3sim.serving.warm_jit import CompiledWhenLoaded

Progress = Callable[[int], None]


class Engine:
    """Serves one replica's requests to completion; see the module docstring."""

    def __init__(
        self, system: System, scheduler: Scheduler, kv: KVStore, closed_form: bool = True, replica: int = 0
    ) -> None:
        self.system = system
        self.scheduler = scheduler
        self.kv = kv
        self.closed_form = closed_form
        self.replica = replica
        self._advance_requests = CompiledWhenLoaded(request_advance.advance_requests,
                                                    request_advance.advance_requests_numpy)

    def run(
        self, table: RequestTable, progress: Progress | None = None, arrivals: ArrivalSource | None = None
    ) -> Recorder:
        """Serve every request of ``table`` (all must fit the KV cache alone); return the recording.

        ``arrivals`` hands the requests out (default: at the table's ``arrival_s``). An iteration that
        starts while a request waits for admission or has yet to arrive extends the steady window
        (``Recorder.steady_end_s``, ``steady_tokens``: what ``steady_throughput_tok_s`` is made of).
        """
        if np.any(self.kv.never_fits(table.prompt_tokens, table.output_tokens)):
            raise ValueError("requests that never fit the KV cache must be filtered out before the engine")
        state = ReplicaState(table, self.kv)
        rec = Recorder(self.replica, self.system.resources)
        source = arrivals if arrivals is not None else TimedArrivals(table.arrival_s)
        finished = 0
        n = len(table)
        while finished < n:
            state.waiting.extend(source.due(state.now_s))
            if not state.running and not state.waiting:
                upcoming = source.next_time()
                if upcoming is None:
                    raise RuntimeError("no request in the system and none to arrive before all finished")
                state.now_s = upcoming
                continue
            saturated = bool(state.waiting) or source.pending()
            plan = self.scheduler.plan(state)
            self._apply_admission(state, plan, rec)
            if plan.is_empty:
                if not plan.preempt_ids:
                    raise RuntimeError(f"scheduler {self.scheduler.name!r} planned nothing with work queued")
                continue
            done = self._advance(state, plan, rec, source.next_time())
            if saturated:
                rec.steady_end_s, rec.steady_tokens = state.now_s, rec.tokens_produced
            if done.size:
                finished += done.size
                source.finished(done, state.now_s)
                if progress is not None:
                    progress(int(done.size))
        return rec

    # ---- admission and pre-emption ------------------------------------------
    def _apply_admission(self, state: ReplicaState, plan: IterationPlan, rec: Recorder) -> None:
        table = state.table
        for rid in plan.preempt_ids:
            # Recompute: drop the KV cache; the prompt and the tokens generated
            # so far are prefilled again when the request is re-admitted.
            state.running.remove(rid)
            state.waiting.appendleft(rid)
            table.computed_tokens[rid] = max(table.computed_tokens[rid], table.kv_tokens[rid])
            table.kv_tokens[rid] = 0
            table.reserved_blocks[rid] = 0
            table.prefill_done[rid] = 0
            table.prefill_target[rid] = table.prompt_tokens[rid] + table.generated[rid]
            table.preemptions[rid] += 1
            rec.preemptions += 1
        for rid in plan.admit_ids:
            if state.waiting[0] != rid:
                raise RuntimeError("admissions must come from the front of the waiting queue")
            state.waiting.popleft()
            state.running.append(rid)
            table.reserved_blocks[rid] = self.kv.admission_blocks(
                table.prefill_target[rid], table.prompt_tokens[rid], table.output_tokens[rid]
            )
        if plan.admit_ids:
            self.system.place(np.array(plan.admit_ids, dtype=np.int64), state)

    # ---- time advance --------------------------------------------------------
    def _advance(
        self, state: ReplicaState, plan: IterationPlan, rec: Recorder, upcoming_s: float | None
    ) -> np.ndarray:
        """Run ``plan`` for one or more iterations; return the requests that finished."""
        if plan.steady and self.closed_form:
            k, first, increment = self._steady_stretch(state, plan, upcoming_s)
        else:
            k, first, increment = 1, self.system.iteration_cost(plan, state.table), None
        self.scheduler.observe(plan, first)
        return self._commit(state, plan, rec, k, first, increment)

    def _steady_stretch(
        self, state: ReplicaState, plan: IterationPlan, upcoming_s: float | None
    ) -> tuple[int, IterationCost, IterationCost]:
        table, ids = state.table, plan.decode_ids
        k = int((table.output_tokens[ids] - table.generated[ids]).min())
        k = min(k, self._iterations_until_full(state, ids, k))
        segment = self.system.segment_cost(plan, table, k)
        k = min(k, segment.valid_iterations)
        d0, inc = segment.first.duration_s, segment.increment.duration_s
        if upcoming_s is not None:
            # Iteration j starts at now + S(j); only those starting before the
            # arrival run unchanged (the next one sees the new request).
            k = _last_true(k, lambda j: arithmetic_sum(d0, inc, j) < upcoming_s - state.now_s) + 1
        return k, segment.first, segment.increment

    def _iterations_until_full(self, state: ReplicaState, ids: np.ndarray, limit: int) -> int:
        """Largest k <= limit such that all of the first k iterations fit in the KV blocks."""
        table, kv = state.table, self.kv
        static = 0
        if ids.size < len(state.running):  # requests stalled by the token budget hold their blocks
            others = np.setdiff1d(np.array(state.running, dtype=np.int64), ids, assume_unique=True)
            static = int(kv.held_blocks(table.reserved_blocks[others], table.kv_tokens[others]).sum())
        reserved, stored = table.reserved_blocks[ids], table.kv_tokens[ids]
        k = kv.iterations_that_fit(static, reserved, stored, limit)
        if k is not None:
            return k

        def fits(j: int) -> bool:  # iteration j stores j + 1 more tokens per request
            return static + int(kv.held_blocks(reserved, stored + j + 1).sum()) <= kv.capacity_blocks

        return _last_true(limit, fits) + 1

    def _commit(
        self,
        state: ReplicaState,
        plan: IterationPlan,
        rec: Recorder,
        k: int,
        first: IterationCost,
        increment: IterationCost | None,
    ) -> np.ndarray:
        """Apply k iterations of ``plan`` to the requests and the recording; return the requests that finished."""
        table = state.table
        d0 = first.duration_s
        inc = increment.duration_s if increment is not None else 0.0
        start = state.now_s
        end = start + arithmetic_sum(d0, inc, k)
        ids = plan.decode_ids
        kv_before, blocks, decode_gaps, again, again_gaps, produced, finished = self._advance_requests(
            ids, plan.prefill_ids, plan.prefill_chunk_tokens, k, start, end, d0,
            np.array(state.running, dtype=np.int64), self.kv.block_tokens, table.kv_tokens, table.generated,
            table.last_token_s, table.prefill_done, table.prefill_target, table.first_token_s, table.output_tokens,
            table.reserved_blocks, table.finish_s)
        if ids.size:  # the first iteration's gaps run from each request's previous token, later ones are k - 1
            _record_gaps(rec, table, ids, decode_gaps, (d0 + inc, inc, k - 1))  # iteration durations
        _record_gaps(rec, table, again, again_gaps)  # prefills re-admitted after pre-emption

        decoded = ids.size
        prefill_tokens = int(plan.prefill_chunk_tokens.sum())
        # Stored tokens at the end of iteration j: kv_before + (j + 1) * decoded (+ the prefill chunks).
        rec.kv_token_seconds += (kv_before + prefill_tokens) * arithmetic_sum(d0, inc, k) + decoded * (
            d0 * k * (k + 1) / 2 + inc * (k - 1) * k * (k + 1) / 3
        )
        rec.kv_peak_blocks = max(rec.kv_peak_blocks, blocks)
        rec.iterations += k
        rec.iterating_s += end - start
        rec.batch_request_iterations += k * plan.batch_size
        rec.tokens_produced += k * decoded + produced - decoded
        rec.iteration_s.add_series(d0, inc, k, 1)
        rec.add_busy(first.busy_s, increment.busy_s if increment is not None else {}, k)
        rec.add_counts(first.counts, increment.counts if increment is not None else {}, k)
        rec.add_timeline(start, end, k, first.phases)
        kv_end = kv_before + decoded * k + prefill_tokens
        rec.segments.append(
            (self.replica, start, end, k, plan.batch_size, decoded, prefill_tokens, d0, inc, kv_end, blocks)
        )
        if first.account:  # the system's terms for the run's bound-and-loss account (serving/account.py)
            rec.account.append((len(state.waiting), *first.account))
        state.now_s = end
        if finished.size:
            gone = set(finished.tolist())
            state.running = [rid for rid in state.running if rid not in gone]
        return finished


def _record_gaps(
    rec: Recorder,
    table: RequestTable,
    ids: np.ndarray,
    gaps: np.ndarray,
    series: tuple[float, float, int] | None = None,
) -> None:
    """Record the token gaps of requests ``ids`` (one per request, plus ``series`` = (first, increment, count)
    per request); those of measured requests (``RequestTable.measured``) also into ``tbt_measured_s``."""
    rec.tbt_s.add_values(gaps)
    if series is not None:
        rec.tbt_s.add_series(*series, ids.size)
    if table.measured is None:
        return
    keep = table.measured[ids]
    rec.tbt_measured_s.add_values(gaps[keep])
    if series is not None:
        rec.tbt_measured_s.add_series(*series, int(keep.sum()))


def _last_true(limit: int, predicate: Callable[[int], bool]) -> int:
    """Largest j in [0, limit) with predicate(j), for a predicate true at 0 and monotone (true, then false)."""
    lo, hi = 0, limit - 1
    if predicate(hi):
        return hi
    while hi - lo > 1:  # predicate(lo) true, predicate(hi) false
        mid = (lo + hi) // 2
        if predicate(mid):
            lo = mid
        else:
            hi = mid
    return lo
