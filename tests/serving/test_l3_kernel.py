"""The compiled L3 policy (``schedulers.l3_kernel``) against its definition (``l3.form_sub_batches``).

With the trained predictors (a real forest and a real linear model, fitted here on rows drawn from a
closed form), both must form the same sub-batches in the same order, take the same prefills with the same
(possibly cut) chunks and predict the same stage times, bit for bit, on random cases that reach every part
of the policy: the fill, the leftovers, full memory and the cut, kept decodes, decode steps of 1, 2 and 16.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from l3sim.errors import ConfigError
from l3sim.serving.predictors import GPU_FEATURES, PIM_FEATURES, GPUTimePredictor, PIMTimePredictor
from l3sim.serving.schedulers.l3 import (
    Decode,
    LearnedStagePredictor,
    Prefill,
    SubBatch,
    form_sub_batches,
    form_sub_batches_compiled,
)


def _predictor() -> LearnedStagePredictor:
    """T_GPU ~ 20 us per dense-layer token + 1 ms; T_PIM ~ 0.3 us per context token + 10 us per decode +
    0.2 us per prefill token transferred (noise so the forest has to cut many ways)."""
    rng = np.random.default_rng(7)
    rows = 400
    gpu_X = np.zeros((rows, len(GPU_FEATURES)))
    for slot in range(3):
        gpu_X[:, 2 * slot] = rng.integers(0, 2000, rows)
        gpu_X[:, 2 * slot + 1] = rng.integers(0, 3000, rows)
    gpu_X[:, 6] = rng.integers(0, 4, rows)
    gpu_X[:, 7] = gpu_X[:, [0, 2, 4]].sum(axis=1)
    gpu_X[:, 8] = rng.integers(0, 80, rows)
    gpu_X[:, 9] = gpu_X[:, 7] + gpu_X[:, 8]
    gpu_y = 2e-5 * gpu_X[:, 9] + 1e-3 + rng.normal(0, 1e-4, rows)
    pim_X = np.column_stack([rng.integers(0, 100_000, rows), rng.integers(0, 80, rows), rng.integers(0, 6000, rows)])
    pim_y = pim_X @ np.array([3e-7, 1e-5, 2e-7]) + rng.normal(0, 1e-5, rows)
    assert pim_X.shape[1] == len(PIM_FEATURES)
    return LearnedStagePredictor(GPUTimePredictor(n_estimators=5, seed=3).fit(gpu_X, gpu_y),
                                 PIMTimePredictor().fit(pim_X, pim_y))


def _case(rng: np.random.Generator):
    ranks = int(rng.choice([1, 2, 4, 8]))
    n = int(rng.integers(0, 50))
    pool_ids = rng.permutation(1000)[:n] + 100
    context = rng.integers(1, 3000, n)
    if rng.random() < 0.3:
        context[: n // 2] = context[0] if n else 1  # ties in context: pool order decides
    pool_ranks = rng.integers(0, ranks, n)
    kept_sizes = rng.integers(0, 6, 2) if rng.random() < 0.3 else (0, 0)
    kept = []
    for lane, size in enumerate(kept_sizes):
        ids = np.arange(size, dtype=np.int64) + 10 * lane
        kept.append((ids, rng.integers(1, 3000, size), rng.integers(0, ranks, size)))
    m = int(rng.integers(0, 6))
    admitted = int(rng.integers(0, m + 1))
    prefills = [Prefill(int(500 + k), int(rng.integers(1, 2000)), int(rng.integers(0, 3000)),
                        0 if k < admitted else int(rng.integers(1, 20))) for k in range(m)]
    return dict(ranks=ranks, pool=(pool_ids, context, pool_ranks), kept=kept, prefills=prefills,
                room=int(rng.integers(-5, 60)), budget=int(rng.integers(0, 4000)), step=int(rng.choice([1, 2, 16])),
                min_chunk=int(rng.choice([1, 16, 64])))


def _kept(case) -> tuple[SubBatch, SubBatch]:
    return tuple(SubBatch.holding(case["ranks"], ids, ctx, slots) for ids, ctx, slots in case["kept"])


def _fields(sb: SubBatch) -> tuple:
    return (sb.decode_ids, sb.decode_tokens, sb.num_decodes, sb.rank_load, sb.prefill_ids, sb.prefill_chunks,
            sb.prefill_done)


def test_compiled_policy_equals_the_python_policy_on_random_cases():
    predictor = _predictor()
    model = predictor.kernel_model()
    assert model is not None
    rng = np.random.default_rng(2026)
    seen = {"leftovers": 0, "cut": 0, "full": 0, "kept": 0, "ties": 0}
    for _ in range(400):
        case = _case(rng)
        ids, context, ranks = case["pool"]
        pool = [Decode(int(i), int(c), int(r)) for i, c, r in zip(ids, context, ranks)]
        want = form_sub_batches(_kept(case), pool, list(case["prefills"]), case["room"], case["budget"],
                                case["step"], predictor, case["min_chunk"])
        got = form_sub_batches_compiled(_kept(case), ids, context, ranks, list(case["prefills"]), case["room"],
                                        case["budget"], case["step"], model, case["min_chunk"])
        for lane in (0, 1):
            assert _fields(got.sub_batches[lane]) == _fields(want.sub_batches[lane])
        assert got.memory_full == want.memory_full
        np.testing.assert_array_equal(got.gpu_s, want.gpu_s)
        np.testing.assert_array_equal(got.pim_s, want.pim_s)
        uncut = form_sub_batches(_kept(case), pool, list(case["prefills"]), case["room"], case["budget"],
                                 case["step"], predictor, min_chunk_tokens=10**9)  # no chunk can be shortened
        seen["cut"] += any(sb.prefill_chunks != plain.prefill_chunks
                           for sb, plain in zip(want.sub_batches, uncut.sub_batches))
        seen["full"] += want.memory_full
        seen["leftovers"] += bool(ids.size) and not case["prefills"]
        seen["kept"] += sum(len(k[0]) for k in case["kept"]) > 0
        seen["ties"] += len(set(context.tolist())) < context.size
    assert min(seen.values()) >= 10, seen  # every part of the policy was reached many times


def test_compiled_policy_checks_its_arguments():
    model = _predictor().kernel_model()
    empty = (SubBatch(2), SubBatch(2))
    none = np.zeros(0, dtype=np.int64)
    with pytest.raises(ConfigError, match="decode step"):
        form_sub_batches_compiled(empty, none, none, none, [], 0, 0, 0, model)
    holding = SubBatch(2, prefill_ids=[1], prefill_chunks=[5], prefill_done=[0])
    with pytest.raises(ValueError) as error:
        form_sub_batches_compiled((holding, SubBatch(2)), none, none, none, [], 0, 0, 1, model)
    assert str(error.value) == "form_sub_batches_compiled: kept sub-batches hold decodes only"


def test_both_policies_default_to_the_same_minimum_chunk():
    def default(function):
        return inspect.signature(function).parameters["min_chunk_tokens"].default

    assert default(form_sub_batches_compiled) == default(form_sub_batches) == 1


def test_only_the_trained_predictors_run_compiled():
    """A StagePredictor of other models (the tests' closed forms, fakes) keeps the Python policy."""
    trained = _predictor()
    assert LearnedStagePredictor(trained.gpu, object()).kernel_model() is None
    assert LearnedStagePredictor(GPUTimePredictor(), trained.pim).kernel_model() is None  # not fitted yet


def test_the_kernel_model_is_built_once_per_fit():
    """The arrays the compiled policy reads are built at the first decision and kept while the predictors
    stay; a refit of either (a new forest, new linear terms) builds them anew from the refitted model."""
    predictor = _predictor()
    first = predictor.kernel_model()
    assert predictor.kernel_model() is first
    rng = np.random.default_rng(11)
    pim_X = np.column_stack([rng.integers(0, 100_000, 50), rng.integers(0, 80, 50), rng.integers(0, 6000, 50)])
    predictor.pim = PIMTimePredictor().fit(pim_X, pim_X @ np.array([5e-7, 2e-5, 1e-7]) + 1e-4)  # same forest
    second = predictor.kernel_model()
    assert second is not first and second.roots is first.roots
    np.testing.assert_array_equal(second.pim, [*predictor.pim._coef_floats, predictor.pim.intercept_])
    assert predictor.kernel_model() is second
    refitted = _predictor()  # another forest object (same rows), the same linear terms as before the PIM refit
    predictor.gpu = refitted.gpu
    third = predictor.kernel_model()
    assert third is not second and third.roots is refitted.gpu.forest.roots
    np.testing.assert_array_equal(third.pim, second.pim)


class _PythonPolicy(LearnedStagePredictor):
    """The same trained predictors, but the scheduler's decisions run the Python policy."""

    def kernel_model(self):
        return None


def _scheduler_cases():
    """(settings, state, lanes): kept decodes under regroup = "never", new decodes beside an admitted prompt in
    a full cache whose chunk is cut (the minimum binds), and new decodes with prompts waiting."""
    from test_l3_scheduler_admission import _decoding_requests

    kept = _decoding_requests([301, 100, 100, 100, 49, 2000, 7])
    yield ('schedulers.l3.regroup="never"',), kept, np.array([0, 1, 1, 1, -1, -1, -1])
    for minimum in (8, 16, 64):
        full = _decoding_requests([99, 2500], capacity_blocks=7 + 157 + 188, prompts=[3000, 10])
        table = full.table
        table.prefill_done[2], table.kv_tokens[2], table.slot[2], table.reserved_blocks[2] = 40, 40, 0, 188
        full.running.append(2)
        full.waiting.append(3)
        yield (f"schedulers.l3.min_chunk_tokens={minimum}",), full, None
    waiting = _decoding_requests([500, 40, 1200, 3], prompts=[800, 90, 2000])
    waiting.waiting.extend([4, 5, 6])
    yield (), waiting, None


def test_the_schedulers_compiled_decisions_equal_its_python_decisions():
    """Through L3Scheduler.plan: the same plan and the same predicted stage times whether the trained predictors
    run compiled or as Python, so what the scheduler hands the compiled policy (each decode's stored tokens + 1,
    the configured minimum chunk, the kept sub-batches) is what it hands form_sub_batches."""
    from test_l3_scheduler_behaviour import hand_system
    from test_l3_scheduler_engine import _spec

    from l3sim.serving.schedulers import build_scheduler

    trained = _predictor()
    cut = 0
    for settings, state, lanes in _scheduler_cases():
        spec = _spec(*settings)
        plans = []
        for predictor in (LearnedStagePredictor(trained.gpu, trained.pim), _PythonPolicy(trained.gpu, trained.pim)):
            scheduler = build_scheduler("l3", spec.serving, hand_system(slots=1), spec.schedulers)
            scheduler.predictor = predictor
            if lanes is not None:
                scheduler.lane = lanes.copy()
            run = _copy_state(state)
            plans.append((scheduler.plan(run), scheduler._pending, scheduler.lane))
        (compiled, (c_pair, c_gpu, c_pim), c_lane), (python, (p_pair, p_gpu, p_pim), p_lane) = plans
        for field in ("decode_ids", "prefill_ids", "prefill_chunk_tokens", "prefill_done_tokens"):
            np.testing.assert_array_equal(getattr(compiled, field), getattr(python, field))
        assert [ids.tolist() for ids in compiled.sub_batches] == [ids.tolist() for ids in python.sub_batches]
        assert compiled.admit_ids == python.admit_ids
        for c_rows, p_rows in zip(c_pair, p_pair):  # what the predictors will learn from
            np.testing.assert_array_equal(c_rows, p_rows)
        np.testing.assert_array_equal(c_lane, p_lane)
        np.testing.assert_array_equal(c_gpu, p_gpu)
        np.testing.assert_array_equal(c_pim, p_pim)
        remaining = state.table.prefill_target - state.table.prefill_done
        chunks = dict(zip(python.prefill_ids.tolist(), python.prefill_chunk_tokens.tolist()))
        cut += any(chunk < remaining[rid] and chunk == int(settings[0].split("=")[1])
                   for rid, chunk in chunks.items() if settings and "min_chunk" in settings[0])
    assert cut >= 2  # the minimum chunk decided the cut in some of the full-cache cases


def _copy_state(state):
    """A fresh copy of a replica state (the scheduler's plan must not see another plan's changes)."""
    import copy

    return copy.deepcopy(state)


def _random_state(rng: np.random.Generator, slots: int):
    """A replica in the middle of a run: requests decoding, in prefill (some after a pre-emption), waiting (at
    times more than the compiled plan is handed at first) and done; a KV store from roomy to over-full."""
    from collections import deque

    from l3sim.serving.kvstore import KVStore
    from l3sim.serving.state import ReplicaState, RequestTable

    n = int(rng.integers(1, 300))
    profile = rng.choice(["mixed", "queued", "decoding"])  # queued: a long queue of short prompts, a roomy cache
    queued = profile == "queued"
    prompts = rng.integers(1, 20 if queued else 600, n)
    table = RequestTable(ids=np.arange(n), arrival_s=np.zeros(n), prompt_tokens=prompts,
                         output_tokens=rng.integers(2, 400, n))
    status = rng.choice(["decode", "prefill", "wait", "done"], n,
                        p=dict(mixed=[0.45, 0.15, 0.35, 0.05], queued=[0.1, 0.05, 0.8, 0.05],
                               decoding=[0.9, 0.0, 0.05, 0.05])[profile])
    for rid in range(n):
        if status[rid] == "decode":
            table.generated[rid] = rng.integers(1, table.output_tokens[rid])
            table.prefill_target[rid] = table.prompt_tokens[rid] + (rng.integers(0, table.generated[rid])
                                                                    if rng.random() < 0.2 else 0)
            table.prefill_done[rid] = table.prefill_target[rid]
            table.kv_tokens[rid] = table.prompt_tokens[rid] + table.generated[rid] - 1
        elif status[rid] == "prefill":
            table.prefill_done[rid] = rng.integers(0, table.prefill_target[rid])
            table.kv_tokens[rid] = table.prefill_done[rid]
        if status[rid] in ("decode", "prefill"):
            table.reserved_blocks[rid] = rng.integers(0, table.kv_tokens[rid] // 16 + 3)
            table.slot[rid] = rng.integers(-1, slots)  # -1: admitted by this plan's predecessor, not placed
    running = [int(r) for r in rng.permutation(np.flatnonzero(np.isin(status, ["decode", "prefill"])))]
    waiting = deque(int(r) for r in np.flatnonzero(status == "wait"))
    held = sum(max(int(table.reserved_blocks[r]), -(-int(table.kv_tokens[r]) // 16)) for r in running)
    capacity = int(held * (20.0 if queued else rng.uniform(0.8, 3.0))) + int(rng.integers(0, 40 + 400 * queued))
    kv = KVStore(capacity, 16, int(capacity * rng.choice([0.0, 0.05])), str(rng.choice(["prompt", "full"])))
    return ReplicaState(table, kv, running=running, waiting=waiting)


@pytest.mark.parametrize("seed", range(4))
def test_the_compiled_plan_equals_the_python_plan_on_random_states(seed, monkeypatch):
    """L3Scheduler.plan compiled (``l3_kernel.plan_kernel``) against ``plan_python``, on random replicas and
    settings: the same plan field by field, the same decision (what the predictors will learn, the predicted
    stage times), the same sub-batch kept by every request; decisions, pre-emptions, budget-stalled decodes,
    sequence limits and long queues all occur."""
    from test_l3_scheduler_behaviour import hand_system
    from test_l3_scheduler_engine import _spec

    from l3sim.serving.schedulers import build_scheduler

    from l3sim.serving.schedulers import l3_kernel

    rng = np.random.default_rng(seed)
    trained = _predictor()
    seen = dict(decided=0, kept=0, preempted=0, admitted=0, long_queue=0)
    run_plan_kernel = l3_kernel.run_plan_kernel

    def counted(*args):  # counts the plans whose candidates reached past the front of the queue first handed
        result = run_plan_kernel(*args)
        seen["long_queue"] += result[0] == l3_kernel.NEED_MORE_WAITING
        return result

    monkeypatch.setattr(l3_kernel, "run_plan_kernel", counted)
    for _ in range(80):
        settings = (f'schedulers.l3.regroup="{rng.choice(["decision", "never"])}"',
                    f"schedulers.l3.min_chunk_tokens={rng.choice([1, 16, 64])}",
                    f"serving.max_num_seqs={rng.choice([0, 0, 5, 40])}",
                    f"serving.max_batch_tokens={rng.choice([64, 512, 8192])}")
        slots, step = int(rng.choice([1, 2, 4])), int(rng.choice([1, 16]))
        spec, state = _spec(*settings), _random_state(rng, slots)
        lanes = rng.integers(rng.choice([-1, 0]), 2, len(state.table))  # at times every decode keeps a lane
        fresh = rng.random() < 0.15
        out = []
        for predictor in (LearnedStagePredictor(trained.gpu, trained.pim), _PythonPolicy(trained.gpu, trained.pim)):
            scheduler = build_scheduler("l3", spec.serving, hand_system(slots=slots), spec.schedulers)
            scheduler.predictor, scheduler.step = predictor, step
            if not fresh:  # else the scheduler starts its own lanes, every decode in none
                scheduler.lane = lanes.copy()
            run = _copy_state(state)
            plan = scheduler.plan(run)
            pending = scheduler._pending
            out.append((plan, pending, scheduler.lane, run))
        (compiled, c_pending, c_lane, c_run), (python, p_pending, p_lane, p_run) = out
        for field in ("decode_ids", "prefill_ids", "prefill_chunk_tokens", "prefill_done_tokens"):
            np.testing.assert_array_equal(getattr(compiled, field), getattr(python, field))
        assert [ids.tolist() for ids in compiled.sub_batches] == [ids.tolist() for ids in python.sub_batches]
        assert [ids.tolist() for ids in compiled.prefill_sub_batches] == [
            ids.tolist() for ids in python.prefill_sub_batches]
        assert (compiled.preempt_ids, compiled.admit_ids, compiled.steady) == (
            python.preempt_ids, python.admit_ids, python.steady)
        np.testing.assert_array_equal(c_lane, p_lane)
        assert (c_pending is None) == (p_pending is None)
        if p_pending is not None:
            for c_rows, p_rows in zip(c_pending[0], p_pending[0]):  # GPU and PIM rows to learn from
                np.testing.assert_array_equal(c_rows, p_rows)
            np.testing.assert_array_equal(c_pending[1], p_pending[1])
            np.testing.assert_array_equal(c_pending[2], p_pending[2])
        assert list(c_run.waiting) == list(p_run.waiting) and c_run.running == p_run.running  # plans change neither
        seen["decided"] += p_pending is not None
        seen["kept"] += p_pending is None and python.decode_ids.size > 0
        seen["preempted"] += bool(python.preempt_ids)
        seen["admitted"] += bool(python.admit_ids)
    assert min(seen.values()) > 0, seen


def test_a_whole_run_is_the_same_with_the_compiled_plan_as_with_the_python_plan(monkeypatch):
    """A whole L3 run that pre-empts (a small KV share): identical results whichever way the scheduler plans."""
    from test_l3_scheduler_engine import _requests, _spec

    from l3sim.serving.schedulers.l3 import L3Scheduler
    from l3sim.serving.simulate import build_system, serve

    spec, requests = _spec(), _requests(40, 5)
    compiled = serve(build_system(spec), requests, spec)
    monkeypatch.setattr(L3Scheduler, "plan", L3Scheduler.plan_python)
    python = serve(build_system(spec), requests, spec)
    assert compiled.preemptions > 0
    assert compiled.to_dict() == python.to_dict()
