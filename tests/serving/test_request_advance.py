"""The engine's per-request commit (``serving.request_advance``): the plain-Python function, interpreted and
compiled, against its numpy twin on random tables and plans, bit for bit (every array of the table afterwards,
every figure handed to the recorder), and both by hand."""

from __future__ import annotations

import numpy as np
import pytest

from l3sim.serving import warm_jit
from l3sim.serving.request_advance import advance_requests, advance_requests_numpy

ARRAYS = ("kv_tokens", "generated", "last_token_s", "prefill_done", "prefill_target", "first_token_s",
          "output_tokens", "reserved_blocks", "finish_s")


def _case(rng: np.random.Generator):
    n = int(rng.integers(1, 80))
    t = dict(kv_tokens=rng.integers(0, 3000, n), generated=rng.integers(0, 50, n),
             last_token_s=np.where(rng.random(n) < 0.5, 10.0, rng.uniform(0, 10, n)),
             prefill_done=rng.integers(0, 2000, n), prefill_target=rng.integers(1, 2500, n),
             first_token_s=np.where(rng.random(n) < 0.5, np.nan, rng.uniform(0, 5, n)),
             output_tokens=rng.integers(1, 60, n), reserved_blocks=rng.integers(0, 100, n),
             finish_s=np.full(n, np.nan))
    order = rng.permutation(n)
    decodes, prefills = int(rng.integers(0, n + 1)), int(rng.integers(0, 6))
    decode_ids, prefill_ids = order[:decodes], order[decodes: decodes + prefills]
    running = np.sort(order[: decodes + prefills + int(rng.integers(0, 4))])
    chunks = rng.integers(1, 800, prefill_ids.size)
    k = int(rng.choice([1, 1, 7, 300]))
    d0 = float(rng.uniform(0.01, 0.2))
    return (decode_ids, prefill_ids, chunks, k, 10.0, 10.0 + k * d0, d0, running, int(rng.choice([1, 16])), t)


@pytest.mark.parametrize("compiled", [False, True], ids=["interpreted", "compiled"])
def test_the_commit_equals_the_numpy_commit_on_random_plans(compiled):
    run = warm_jit.compiled(advance_requests) if compiled else advance_requests
    rng = np.random.default_rng(4)
    seen = dict(first_token=0, readmitted=0, finished=0, waited=0)
    for _ in range(300):
        *args, table = _case(rng)
        mine = {name: array.copy() for name, array in table.items()}
        expected = advance_requests_numpy(*args, *(table[name] for name in ARRAYS))
        got = run(*args, *(mine[name] for name in ARRAYS))
        for name in ARRAYS:
            np.testing.assert_array_equal(mine[name], table[name], err_msg=name)
        assert got[0] == expected[0] and got[1] == expected[1] and got[5] == expected[5]
        for g, e in zip(got[2:5] + got[6:], expected[2:5] + expected[6:]):
            assert g.dtype == e.dtype or g.size == e.size == 0
            np.testing.assert_array_equal(g, e)
        seen["first_token"] += int((table["first_token_s"] == args[5]).sum()) > 0
        seen["readmitted"] += expected[3].size > 0
        seen["finished"] += expected[6].size > 0
        seen["waited"] += bool((expected[2] != args[6]).any())
    assert min(seen.values()) > 0, seen


@pytest.mark.parametrize("advance", [advance_requests, advance_requests_numpy], ids=["plain", "numpy"])
def test_a_commit_by_hand(advance):
    """Request 0 decodes 3 tokens from 10 s (its last token at 9.5 s: a first gap of 0.5 + 0.2 s), request 1
    completes its prefill for the first time (800 + 200 >= 1,000), request 2, re-admitted, completes again (its
    gap: from 8 s to the end, 10.6 s) and, at its 5th of 5 tokens, finishes; 16-token blocks."""
    t = dict(kv_tokens=np.array([100, 800, 50]), generated=np.array([1, 0, 4]),
             last_token_s=np.array([9.5, np.nan, 8.0]),
             prefill_done=np.array([90, 800, 40]), prefill_target=np.array([90, 1000, 50]),
             first_token_s=np.array([3.0, np.nan, 2.0]), output_tokens=np.array([10, 10, 5]),
             reserved_blocks=np.array([6, 50, 4]), finish_s=np.full(3, np.nan))
    got = advance(np.array([0]), np.array([1, 2]), np.array([200, 10]), 3, 10.0, 10.6, 0.2,
                           np.array([0, 1, 2]), 16, *(t[name] for name in ARRAYS))
    kv_before, blocks, decode_gaps, again, again_gaps, produced, finished = got
    assert kv_before == 950 and produced == 3
    assert decode_gaps.tolist() == [10.0 + 0.2 - 9.5]
    assert again.tolist() == [2] and again_gaps.tolist() == [10.6 - 8.0]
    # after: request 0 holds 103 tokens (7 blocks > its 6), request 1 1,000 (63 > 50), request 2 finished (0)
    assert blocks == 7 + 63 + 4 and finished.tolist() == [2]
    assert t["kv_tokens"].tolist() == [103, 1000, 0] and t["generated"].tolist() == [4, 1, 5]
    assert t["first_token_s"].tolist() == [3.0, 10.6, 2.0] and t["last_token_s"].tolist() == [10.6, 10.6, 10.6]
    assert t["reserved_blocks"].tolist() == [6, 50, 0]
    assert np.isnan(t["finish_s"][:2]).all() and t["finish_s"][2] == 10.6


@pytest.mark.parametrize("system", ["hbm-pim", "gpu-only"])
def test_a_run_is_the_same_with_numba_loaded_or_not(system, monkeypatch):
    """The engine's commit and the systems' decode stage run compiled once numba is loaded in the process, as
    numpy before: a whole run (pre-empting, sub-batched for hbm-pim) gives the same result either way."""
    from l3sim.serving.simulate import simulate
    from l3sim.spec.run import build_run_spec

    from l3sim.serving.systems.decode_stage import sub_batch_pieces

    spec = build_run_spec(platform="dgx-a100", system=system, model="gpt-175b", workload="openr1", requests=40)
    monkeypatch.setattr(warm_jit, "_loaded", set())
    cold = simulate(spec)
    assert warm_jit._loaded == set()
    monkeypatch.setattr(warm_jit, "_loaded", {len})  # as if something had run compiled
    warm = simulate(spec)
    assert advance_requests in warm_jit._loaded and (system == "gpu-only" or sub_batch_pieces in warm_jit._loaded)
    assert warm.to_dict() == cold.to_dict()
