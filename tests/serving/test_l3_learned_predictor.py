"""The L3 scheduler's glue to its trained predictors, by hand (issue 17 item 7: the ``l3`` mutants).

``LearnedStagePredictor`` turns the policy's questions into feature rows (``serving.predictors.features``:
the three largest chunks with their done tokens, largest first, then the number of prefills, their tokens,
the decode count and the tokens the dense layers see) and feeds both stages' actual times back. A recording
model that returns the rows it is asked about shows each row, written out here by hand. ``_train`` draws
its sampling ranges from the replica's requests (mean context = prompt + half the output; long prompt = the
99th percentile) and passes the scheduler's settings to ``train``: checked with ``train`` replaced.
"""

from __future__ import annotations

from collections import deque

import numpy as np
from test_l3_scheduler_behaviour import hand_system
from test_l3_scheduler_engine import _spec

from l3sim.serving.kvstore import KVStore
from l3sim.serving.predictors import training
from l3sim.serving.schedulers.l3 import L3Scheduler, LearnedStagePredictor, SubBatch, observed_rows
from l3sim.serving.state import ReplicaState, RequestTable
from l3sim.spec.schedulers import L3SchedulerSpec


class _Echo:
    """A predictor model that answers each feature row with the row itself and records its updates."""

    def __init__(self) -> None:
        self.updates: list[tuple[np.ndarray, list[float]]] = []

    def predict_rows(self, rows: np.ndarray) -> np.ndarray:
        return np.array(rows, dtype=float)

    def predict_columns(self, decode_context_tokens, num_decodes, other_prefill_tokens):
        return ("columns", decode_context_tokens, num_decodes, other_prefill_tokens)

    def update_rows(self, rows: np.ndarray, seconds: np.ndarray) -> None:
        assert rows.dtype == np.float64 and seconds.dtype == np.float64 and rows.shape[0] == seconds.size
        self.updates.append((rows, seconds.tolist()))


def _predictor() -> LearnedStagePredictor:
    return LearnedStagePredictor(_Echo(), _Echo())


# Prefills (chunk, done): (30, 0), (10, 5), (50, 7), (20, 9). The three largest chunks, largest first:
# 50/7, 30/0, 20/9; 4 prefills of 110 tokens.
CHUNKS, DONE = [30, 10, 50, 20], [0, 5, 7, 9]
PREFIX = [50, 7, 30, 0, 20, 9, 4, 110]


def test_gpu_s_of_one_decode_count_is_one_row_by_hand():
    rows = _predictor().gpu_s(CHUNKS, DONE, 4)
    np.testing.assert_array_equal(rows, [PREFIX + [4, 114]])


def test_gpu_s_of_several_decode_counts_is_one_row_per_count():
    """The form ``_GPUCurve`` asks (an array of counts): the same prefills, the counts 0, 4 and 9."""
    rows = _predictor().gpu_s(CHUNKS, DONE, np.array([0, 4, 9]))
    np.testing.assert_array_equal(rows, [PREFIX + [0, 110], PREFIX + [4, 114], PREFIX + [9, 119]])


def test_gpu_s_rows_varies_only_the_last_prefill():
    """Head prefills (30, 0), (10, 5); the last prefill, done 7, cut to 50, 25 or 5 tokens; 4 decodes:
    50 -> 50/7, 30/0, 10/5, 90 tokens; 25 -> 30/0, 25/7, 10/5, 65; 5 -> 30/0, 10/5, 5/7, 45."""
    rows = _predictor().gpu_s_rows([30, 10], [0, 5], [50, 25, 5], 7, 4)
    np.testing.assert_array_equal(rows, [[50, 7, 30, 0, 10, 5, 3, 90, 4, 94],
                                         [30, 0, 25, 7, 10, 5, 3, 65, 4, 69],
                                         [30, 0, 10, 5, 5, 7, 3, 45, 4, 49]])


def test_gpu_s_rows_takes_a_single_length_as_one_row():
    rows = _predictor().gpu_s_rows([], [], 12, 3, 2)
    np.testing.assert_array_equal(rows, [[12, 3, 0, 0, 0, 0, 1, 12, 2, 14]])


def test_pim_s_asks_the_pim_model_with_the_three_columns_in_order():
    assert _predictor().pim_s(900, 3, 40) == ("columns", 900, 3, 40)


def test_learn_feeds_each_sub_batch_beside_the_other_ones_decodes():
    """Sub-batch 0: prefill (20, 4), decodes of 100 + 50 context on ranks 0, 1; sub-batch 1: no prefill, one
    decode of 300. GPU rows: sub-batch 0 beside the other's 1 decode, sub-batch 1 (nothing) beside 2 decodes;
    PIM rows: (150, 2, 20) and (300, 1, 0); the true seconds in sub-batch order."""
    sb0, sb1 = SubBatch(2), SubBatch(2)
    sb0.prefill_ids, sb0.prefill_chunks, sb0.prefill_done = [7], [20], [4]
    sb0.add_decode(1, 100, 0)
    sb0.add_decode(2, 50, 1)
    sb1.add_decode(3, 300, 1)
    predictor = _predictor()
    predictor.learn(observed_rows((sb0, sb1)), [0.5, 0.25], [0.75, 0.125])
    (gpu_rows, gpu_true), = predictor.gpu.updates
    np.testing.assert_array_equal(gpu_rows, [[20, 4, 0, 0, 0, 0, 1, 20, 1, 21], [0, 0, 0, 0, 0, 0, 0, 0, 2, 2]])
    assert gpu_true == [0.5, 0.25]
    (pim_rows, pim_true), = predictor.pim.updates
    np.testing.assert_array_equal(pim_rows, [[150, 2, 20], [300, 1, 0]])
    assert pim_true == [0.75, 0.125]


def test_train_draws_ranges_from_the_replica_and_passes_the_settings(monkeypatch):
    """Prompts 100, 300, 200, 1000 and outputs 50, 150, 100, 10: mean context (125 + 375 + 250 + 1005) / 4 =
    438.75; the 99th percentile of the prompts (linear, sorted 100 200 300 1000) is 300 + 0.97 x 700 = 979.
    A cache of 100 blocks of 16 tokens = 1,600 tokens and a budget of 512 tokens give the ranges
    ceil(1600 / 438.75) = 4 decodes, int(2 x 438.75) = 877 context tokens, min(512, 979) = 512 chunk tokens."""
    calls = []
    gpu_model, pim_model = _Echo(), _Echo()

    def fake_train(times, ranges, count, seed, **settings):
        calls.append((times, ranges, count, seed, settings))
        return gpu_model, pim_model

    monkeypatch.setattr(training, "train", fake_train)
    system = hand_system(slots=1)
    serving = _spec().serving.model_copy(update={"max_batch_tokens": 512})
    config = L3SchedulerSpec(training_samples=123, training_seed=7, forest_trees=3, gpu_refit_every=11,
                             pim_refit_every=13)
    scheduler = L3Scheduler(serving, system, config=config)
    table = RequestTable(ids=np.arange(4), arrival_s=np.zeros(4), prompt_tokens=np.array([100, 300, 200, 1000]),
                         output_tokens=np.array([50, 150, 100, 10]))
    state = ReplicaState(table, KVStore(capacity_blocks=100, block_tokens=16, watermark_blocks=0), running=[],
                         waiting=deque(range(4)))
    predictor = scheduler._train(state)
    (times, ranges, count, seed, settings), = calls
    assert times is system
    assert (ranges.max_decodes, ranges.max_context_tokens, ranges.max_chunk_tokens) == (4, 877, 512)
    assert (count, seed) == (123, 7)
    assert settings == {"gpu_refit_every": 11, "pim_refit_every": 13, "gpu_trees": 3}
    assert predictor.gpu is gpu_model and predictor.pim is pim_model


def test_train_long_prompt_is_the_99th_percentile_when_the_budget_allows(monkeypatch):
    """The same replica with a budget of 2,048 tokens: the chunk range is ceil(979) = 979 tokens."""
    seen = []
    monkeypatch.setattr(training, "train", lambda times, ranges, *a, **k: seen.append(ranges) or (_Echo(), _Echo()))
    serving = _spec().serving.model_copy(update={"max_batch_tokens": 2048})
    scheduler = L3Scheduler(serving, hand_system(slots=1))
    table = RequestTable(ids=np.arange(4), arrival_s=np.zeros(4), prompt_tokens=np.array([100, 300, 200, 1000]),
                         output_tokens=np.array([50, 150, 100, 10]))
    scheduler._train(ReplicaState(table, KVStore(capacity_blocks=100, block_tokens=16, watermark_blocks=0),
                                  running=[], waiting=deque(range(4))))
    assert seen[0].max_chunk_tokens == 979
