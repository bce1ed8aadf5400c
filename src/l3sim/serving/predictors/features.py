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
    return np.column_stack(np.broadcast_arrays(
        np.asarray(decode_context_tokens, dtype=np.float64),
        np.asarray(num_decodes, dtype=np.float64),
        np.asarray(other_prefill_tokens, dtype=np.float64),
    )).reshape(-1, len(PIM_FEATURES))


def gpu_feature_rows(chunk_tokens, done_tokens, num_decodes) -> np.ndarray:
    """Rows of GPU_FEATURES, one per row of ``chunk_tokens`` / ``done_tokens`` ((n, m): n stages of m prefills
    each) with ``num_decodes`` (n values): the form the scheduler uses to ask about many alternatives at once."""
    decodes = np.asarray(num_decodes, dtype=np.float64).reshape(-1)
    chunks = np.asarray(chunk_tokens, dtype=np.float64).reshape(decodes.size, -1)
    done = np.asarray(done_tokens, dtype=np.float64).reshape(decodes.size, -1)
    order = np.argsort(-chunks, axis=1, kind="stable")[:, :PREFILL_SLOTS]
    slots = np.zeros((decodes.size, PREFILL_SLOTS, 2))
    slots[:, : order.shape[1], 0] = np.take_along_axis(chunks, order, axis=1)
    slots[:, : order.shape[1], 1] = np.take_along_axis(done, order, axis=1)
    totals = chunks.sum(axis=1)
    return np.column_stack([slots.reshape(decodes.size, -1), np.full(decodes.size, chunks.shape[1]), totals,
                            decodes, decodes + totals])


def gpu_features(chunk_tokens, done_tokens, num_decodes) -> np.ndarray:
    """Rows of GPU_FEATURES for one stage's prefills (chunks and done tokens), one row per decode count.

    ``num_decodes`` may be an array: then one row per value (the same prefills),
    which is how the scheduler asks about many candidate decode counts at once.
    """
    chunks = np.asarray(chunk_tokens, dtype=np.float64).reshape(1, -1)
    done = np.asarray(done_tokens, dtype=np.float64).reshape(1, -1)
    decodes = np.asarray(num_decodes, dtype=np.float64).reshape(-1)
    return gpu_feature_rows(np.repeat(chunks, decodes.size, axis=0), np.repeat(done, decodes.size, axis=0), decodes)
