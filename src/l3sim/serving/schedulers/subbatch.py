"""NeuPIMs-style two-sub-batch interleaving on top of vLLM's continuous batching.

The batch is chosen exactly as :mod:`continuous` chooses it (admission, chunked prefill, pre-emption);
it is then split into two sub-batches for systems that interleave the GPU and the attention device:

- decodes: sorted by context (longest first, ties by request index), dealt in snake order
  0, 1, 1, 0, 0, 1, ...: equal counts (+-1) and nearly equal attention load. Every context grows by one
  per iteration, so the order, hence the split, is the same next iteration and a decode-only plan
  stays steady;
- prefill chunks: each to the sub-batch with fewer GPU tokens so far (decodes + chunks).

Subclasses (the L3 policy in ``l3.py``) override ``plan`` and may reuse ``split``.
"""

from __future__ import annotations

import numpy as np

from l3sim.serving.plan import IterationPlan
from l3sim.serving.schedulers.continuous import ContinuousBatching
from l3sim.serving.state import ReplicaState, RequestTable


def snake_split(decode_ids: np.ndarray, table: RequestTable) -> tuple[np.ndarray, np.ndarray]:
    """Positions (into ``decode_ids``) of the two decode sub-batches, dealt 0, 1, 1, 0 by context."""
    order = np.lexsort((decode_ids, -table.kv_tokens[decode_ids]))
    # ranks 0, 3, 4, 7, 8, ... (k % 4 in {0, 3}) to sub-batch 0, ranks 1, 2, 5, 6, ... to sub-batch 1
    return (np.sort(np.concatenate((order[0::4], order[3::4]))),
            np.sort(np.concatenate((order[1::4], order[2::4]))))


def prefill_split(chunk_tokens: np.ndarray, decode_counts: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the prefill chunks in each sub-batch: each to the one with fewer GPU tokens so far."""
    tokens = list(decode_counts)
    lanes: list[list[int]] = [[], []]
    for pos, chunk in enumerate(chunk_tokens.tolist()):
        lane = 0 if tokens[0] <= tokens[1] else 1
        lanes[lane].append(pos)
        tokens[lane] += chunk
    return np.array(lanes[0], dtype=np.int64), np.array(lanes[1], dtype=np.int64)


class SubBatchScheduler(ContinuousBatching):
    """Continuous batching split into two interleaved sub-batches (see the module docstring)."""

    name = "subbatch"

    def split(self, plan: IterationPlan, table: RequestTable) -> IterationPlan:
        """``plan`` with its decodes and prefills divided into the two sub-batches."""
        decodes = snake_split(plan.decode_ids, table)
        prefills = prefill_split(plan.prefill_chunk_tokens, (decodes[0].size, decodes[1].size))
        return IterationPlan(
            decode_ids=plan.decode_ids,
            prefill_ids=plan.prefill_ids,
            prefill_chunk_tokens=plan.prefill_chunk_tokens,
            prefill_done_tokens=plan.prefill_done_tokens,
            preempt_ids=plan.preempt_ids,
            admit_ids=plan.admit_ids,
            sub_batches=decodes,
            prefill_sub_batches=prefills,
            steady=plan.steady,
        )

    def plan(self, state: ReplicaState) -> IterationPlan:
        return self.split(super().plan(state), state.table)
