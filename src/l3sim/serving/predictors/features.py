"""Feature rows of the two predictors (L3 paper, scheduler section; docs/scheduler.md).

PIM stage of sub-batch i (decode attention of its decodes, transfers of the
other sub-batch's prefill KV): (total decode context tokens, number of decode
requests, total prefill tokens of the other sub-batch).

GPU stage of sub-batch i (prefill attention of its prefills, dense layers over
its prefill tokens and the other sub-batch's decodes): the paper names
(chunk sizes, done tokens) of the prefills and (total prefill tokens, number
of decodes). A forest needs a fixed width, so the prefills are summarised as
the ``PREFILL_SLOTS`` largest chunks with their done tokens (sorted by chunk,
zero-padded; the rest still count in the totals), plus the number of
prefills, and the tokens the dense layers see (prefill tokens + decodes):
the forest splits one feature at a time, and the dense layers' time is a
function of that sum, which it would otherwise have to piece together from
both axes (with it the held-out error falls about fourfold; docs/scheduler.md).
"""

from __future__ import annotations

import numpy as np

PIM_FEATURES = ("decode_context_tokens", "num_decodes", "other_prefill_tokens")

# The L3 policy adds one prefill per sub-batch per round and rarely needs more
# than a few rounds before the PIM side is the longer one, so three slots carry
# nearly every sub-batch's prefills exactly (a modelling choice, not the paper's).
PREFILL_SLOTS = 3
GPU_FEATURES = (
    *(f"{kind}_{slot}" for slot in range(PREFILL_SLOTS) for kind in ("chunk_tokens", "done_tokens")),
    "num_prefills",
    "prefill_tokens",
    "num_decodes",
    "batch_tokens",
)


def pim_features(decode_context_tokens, num_decodes, other_prefill_tokens) -> np.ndarray:
    """Rows of PIM_FEATURES from three equal-length arrays (or scalars)."""
    columns = np.broadcast_arrays(np.asarray(decode_context_tokens, dtype=np.float64),
                                  np.asarray(num_decodes, dtype=np.float64),
                                  np.asarray(other_prefill_tokens, dtype=np.float64))
    rows = np.empty((columns[0].size, len(PIM_FEATURES)))
    for k, column in enumerate(columns):
        rows[:, k] = column.reshape(-1)
    return rows


def gpu_feature_rows(chunk_tokens, done_tokens, num_decodes) -> np.ndarray:
    """Rows of GPU_FEATURES, one per row of ``chunk_tokens`` / ``done_tokens`` ((n, m): n stages of m prefills
    each) with ``num_decodes`` (n values): the form the scheduler uses to ask about many alternatives at once."""
    decodes = np.asarray(num_decodes, dtype=np.float64).reshape(-1)
    n = decodes.size
    if n == 0:
        return np.zeros((0, len(GPU_FEATURES)))
    chunks = np.asarray(chunk_tokens, dtype=np.float64).reshape(n, -1)
    done = np.asarray(done_tokens, dtype=np.float64).reshape(n, -1)
    order = np.argsort(-chunks, axis=1, kind="stable")[:, :PREFILL_SLOTS]
    picked = np.arange(n)[:, None], order
    rows = np.zeros((n, len(GPU_FEATURES)))
    rows[:, 0: 2 * order.shape[1]: 2] = chunks[picked]
    rows[:, 1: 2 * order.shape[1]: 2] = done[picked]
    totals = chunks.sum(axis=1)
    rows[:, 2 * PREFILL_SLOTS] = chunks.shape[1]
    rows[:, 2 * PREFILL_SLOTS + 1] = totals
    rows[:, 2 * PREFILL_SLOTS + 2] = decodes
    rows[:, 2 * PREFILL_SLOTS + 3] = decodes + totals
    return rows


def _prefill_summary(chunks: list[float], done: list[float]) -> list[float]:
    """The prefill columns of GPU_FEATURES: the PREFILL_SLOTS largest chunks with their done tokens (ranked
    with Python's stable sort, the order of ``gpu_feature_rows``' stable argsort), their count and sum."""
    ranked = sorted(zip(chunks, done), key=lambda pair: -pair[0])[:PREFILL_SLOTS]
    head = [value for pair in ranked for value in pair] + [0.0] * (2 * (PREFILL_SLOTS - len(ranked)))
    return head + [float(len(chunks)), float(sum(chunks))]


def gpu_feature_row(chunk_tokens, done_tokens, num_decodes: float) -> list[float]:
    """One row of GPU_FEATURES for one stage's prefills (sequences of a few numbers) and one decode count:
    plain Python, the scheduler's per-decision path (no numpy call per row)."""
    summary = _prefill_summary([float(c) for c in chunk_tokens], [float(d) for d in done_tokens])
    decodes = float(num_decodes)
    return summary + [decodes, decodes + summary[-1]]


def gpu_features(chunk_tokens, done_tokens, num_decodes) -> np.ndarray:
    """Rows of GPU_FEATURES for one stage's prefills (chunks and done tokens), one row per decode count.

    ``num_decodes`` may be an array: then one row per value (the same prefills),
    which is how the scheduler asks about many candidate decode counts at once.
    """
    summary = _prefill_summary(np.asarray(chunk_tokens, dtype=np.float64).reshape(-1).tolist(),
                               np.asarray(done_tokens, dtype=np.float64).reshape(-1).tolist())
    decodes = np.asarray(num_decodes, dtype=np.float64).reshape(-1)
    rows = np.empty((decodes.size, len(GPU_FEATURES)))
    rows[:, : 2 * PREFILL_SLOTS + 2] = summary
    rows[:, -2] = decodes
    rows[:, -1] = decodes + summary[-1]
    return rows
