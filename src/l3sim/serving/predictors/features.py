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


def gpu_features(chunk_tokens, done_tokens, num_decodes) -> np.ndarray:
    """One row of GPU_FEATURES for one stage: its prefills' chunks and done tokens, and a decode count.

    ``num_decodes`` may be an array: then one row per value (the same prefills),
    which is how the scheduler asks about many candidate decode counts at once.
    """
    chunks = np.asarray(chunk_tokens, dtype=np.float64).reshape(-1)
    done = np.asarray(done_tokens, dtype=np.float64).reshape(-1)
    order = np.argsort(-chunks, kind="stable")[:PREFILL_SLOTS]
    slots = np.zeros((PREFILL_SLOTS, 2))
    slots[: order.size, 0] = chunks[order]
    slots[: order.size, 1] = done[order]
    decodes = np.asarray(num_decodes, dtype=np.float64).reshape(-1)
    head = np.concatenate([slots.reshape(-1), [chunks.size, chunks.sum()]])
    return np.column_stack([np.tile(head, (decodes.size, 1)), decodes, decodes + chunks.sum()])
