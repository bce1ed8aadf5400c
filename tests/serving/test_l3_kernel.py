"""The compiled L3 policy (``schedulers.l3_kernel``) against its definition (``l3.form_sub_batches``).

With the trained predictors (a real forest and a real linear model, fitted here on rows drawn from a
closed form), both must form the same sub-batches in the same order, take the same prefills with the same
(possibly cut) chunks and predict the same stage times, bit for bit, on random cases that reach every part
of the policy: the fill, the leftovers, full memory and the cut, kept decodes, decode steps of 1, 2 and 16.
"""

from __future__ import annotations

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
    with pytest.raises(ValueError, match="decodes only"):
        form_sub_batches_compiled((holding, SubBatch(2)), none, none, none, [], 0, 0, 1, model)


def test_only_the_trained_predictors_run_compiled():
    """A StagePredictor of other models (the tests' closed forms, fakes) keeps the Python policy."""
    trained = _predictor()
    assert LearnedStagePredictor(trained.gpu, object()).kernel_model() is None
    assert LearnedStagePredictor(GPUTimePredictor(), trained.pim).kernel_model() is None  # not fitted yet
