"""Each sub-batch's busiest-slot piece (``systems.decode_stage``): the plain-Python function, interpreted and
compiled, against its numpy twin (per (sub-batch, slot) bincounts of the decodes' contexts and
``affine.affine_max`` over the slots' loads and growths) on random plans, bit for bit; both by hand; and
through ``DecodeStage``."""

from __future__ import annotations

import numpy as np
import pytest

from l3sim.serving import warm_jit
from l3sim.serving.systems.decode_stage import DecodeStage, sub_batch_pieces, sub_batch_pieces_numpy


def _reference(ids, second, kv_tokens, slot, slots, fixed_s, per_token_s, limit):
    """``sub_batch_pieces_numpy``'s pieces as (value, growth, span, context) per sub-batch, or None."""
    out = np.zeros((2, 4))
    if not sub_batch_pieces_numpy(ids, second, kv_tokens, slot, slots, fixed_s, per_token_s, limit, out):
        return None
    return [(value, growth, int(span), context) for value, growth, span, context in out.tolist()]


def _case(rng: np.random.Generator):
    n_requests = 200
    slots = int(rng.choice([1, 2, 3, 8]))
    kv_tokens = rng.integers(0, 5000, n_requests)
    if rng.random() < 0.3:
        kv_tokens[:] = rng.integers(0, 3) * 100  # equal contexts: ties between slots
    slot = rng.integers(0, slots, n_requests)
    ids = rng.permutation(n_requests)[: int(rng.integers(0, 60))]
    if ids.size and rng.random() < 0.1:
        slot[ids[int(rng.integers(0, ids.size))]] = -1  # not placed yet
    second = np.sort(rng.permutation(ids.size)[: int(rng.integers(0, ids.size + 1))])
    fixed_s = float(rng.choice([0.0, 2e-6, 3e-5]))
    per_token_s = float(rng.choice([1e-9, 3.7e-8]))
    limit = int(rng.choice([1, 7, 10**6]))
    return ids, second, kv_tokens, slot, slots, fixed_s, per_token_s, limit


@pytest.mark.parametrize("compiled", [False, True], ids=["interpreted", "compiled"])
def test_pieces_equal_bincounts_and_affine_max_on_random_plans(compiled):
    run = warm_jit.compiled(sub_batch_pieces) if compiled else sub_batch_pieces
    rng = np.random.default_rng(5)
    seen = dict(unplaced=0, cut=0, empty=0)
    for _ in range(400):
        case = _case(rng)
        out = np.zeros((2, 4))
        expected = _reference(*case)
        placed = run(*case, out)
        assert placed == (expected is not None)
        if expected is None:
            seen["unplaced"] += 1
            continue
        got = [(value, growth, int(span), context) for value, growth, span, context in out.tolist()]
        assert got == expected
        seen["cut"] += any(piece[2] < case[-1] for piece in expected)  # a steeper slot takes over part-way
        seen["empty"] += any(piece[3] == 0.0 for piece in expected)
    assert min(seen.values()) > 0, seen


PIECES = pytest.mark.parametrize("sub_batch_pieces", [sub_batch_pieces, sub_batch_pieces_numpy],
                                 ids=["plain", "numpy"])


@PIECES
def test_pieces_by_hand(sub_batch_pieces):
    """1 ms per decode and 1 us per context token. Sub-batch 0: three decodes of 100 tokens on slot 1 (3.3 ms,
    growing 3 us an iteration), slot 0 idle; sub-batch 1: one decode of 1,000 on slot 0 (2 ms, growing 1 us).
    Then, without the fixed cost, one sub-batch: slot 0 with two decodes of 1,000 (2 ms + 2 us j) is the busiest,
    slot 1 with fifty of 10 (0.5 ms + 50 us j) the steeper; they meet at j = 1.5 ms / 48 us = 31.25, so the
    piece holds for iterations 0 to 31."""
    kv_tokens = np.array([999, 99, 99, 99])  # a context is the stored tokens plus the one appended
    slot = np.array([0, 1, 1, 1])
    out = np.zeros((2, 4))
    assert sub_batch_pieces(np.arange(4), np.array([0]), kv_tokens, slot, 2, 1e-3, 1e-6, 50, out)
    assert out.tolist() == [[3 * 1e-3 + 300 * 1e-6, 3 * 1e-6, 50, 300.0], [1e-3 + 1000 * 1e-6, 1e-6, 50, 1000.0]]
    kv_tokens = np.array([999, 999, *[9] * 50])
    slot = np.array([0, 0, *[1] * 50])
    assert sub_batch_pieces(np.arange(52), np.zeros(0, np.int64), kv_tokens, slot, 2, 0.0, 1e-6, 1000, out)
    assert out[0].tolist() == [2000 * 1e-6, 2 * 1e-6, 32, 2500.0]
    assert out[1].tolist() == [0.0, 0.0, 1000, 0.0]


def test_the_stage_gives_each_sub_batch_its_piece_and_context(monkeypatch):
    """DecodeStage.pieces: per sub-batch (value, growth, whole-number span) and the summed context, the same at
    every call; None when a decode has no slot yet (numba not loaded: the numpy twin)."""
    monkeypatch.setattr(warm_jit, "_loaded", set())
    rng = np.random.default_rng(8)
    ids, second, kv_tokens, slot, slots, fixed_s, per_token_s, limit = _case(rng)
    slot = np.maximum(slot, 0)
    stage = DecodeStage(slots, fixed_s, per_token_s)
    answers = [stage.pieces(ids, second, kv_tokens, slot, limit) for _ in range(3)]
    assert stage._run.compiled_calls == 0 and all(answer == answers[0] for answer in answers)
    expected = _reference(ids, second, kv_tokens, slot, slots, fixed_s, per_token_s, limit)
    assert answers[0] == ([piece[:3] for piece in expected], [piece[3] for piece in expected])
    assert all(isinstance(piece[2], int) for piece in answers[0][0])
    assert stage.pieces(np.array([0]), np.zeros(0, np.int64), kv_tokens, np.full(200, -1), limit) is None


@PIECES
def test_ties_and_limits_by_hand(sub_batch_pieces):
    """Without the fixed cost, 1 us per token. Two slots equally busy at 300 tokens, one with a single decode,
    the other with three of 100: the piece grows with the steeper (3 us an iteration). A slot of the other
    sub-batch as busy and steeper does not count. The crossing of the earlier case (31.25 iterations) cut
    by the limit: 31 -> 31, 32 -> 32, 33 -> 32."""
    out = np.zeros((2, 4))
    kv_tokens, slot = np.array([299, 99, 99, 99]), np.array([0, 1, 1, 1])
    assert sub_batch_pieces(np.arange(4), np.zeros(0, np.int64), kv_tokens, slot, 2, 0.0, 1e-6, 50, out)
    assert out[0].tolist() == [300 * 1e-6, 3 * 1e-6, 50, 600.0]
    # sub-batch 1: request 0 alone (300 tokens, 1 us a step); sub-batch 0: requests 1-3, as busy and steeper
    assert sub_batch_pieces(np.arange(4), np.array([0]), kv_tokens, slot, 2, 0.0, 1e-6, 50, out)
    assert out.tolist() == [[300 * 1e-6, 3 * 1e-6, 50, 300.0], [300 * 1e-6, 1e-6, 50, 300.0]]
    kv_tokens, slot = np.array([999, 999, *[9] * 50]), np.array([0, 0, *[1] * 50])
    for limit, span in ((31, 31), (32, 32), (33, 32)):
        assert sub_batch_pieces(np.arange(52), np.zeros(0, np.int64), kv_tokens, slot, 2, 0.0, 1e-6, limit, out)
        assert out[0, 2] == span
