"""vLLM-style continuous batching with chunked prefill under a token budget.

Per iteration, in this order (vLLM's scheduler with chunked prefill):
1. Every running request that has finished its prefill decodes one token,
   in admission order, as far as the token budget allows.
2. If the KV blocks those decodes need (plus what the others hold) exceed
   capacity, the latest admitted request is pre-empted by recompute, again
   until everything fits.
3. Running requests still in prefill get chunks of the remaining budget, in
   admission order.
4. If nothing was pre-empted, waiting requests are admitted from the front of
   the queue (first come, first served, no skipping) while budget remains, the
   sequence limit allows, and their reservation leaves the watermark free.
"""

from __future__ import annotations

import numpy as np

from l3sim.serving.plan import EMPTY_IDS, IterationPlan
from l3sim.serving.schedulers.base import Scheduler
from l3sim.serving.state import ReplicaState
from l3sim.spec.run import ServingSpec


class ContinuousBatching(Scheduler):
    """The vLLM scheduler (the GPU-only baseline's)."""

    name = "continuous"

    def __init__(self, serving: ServingSpec, system=None) -> None:
        self.system = system  # the System being served, for schedulers that ask it "what if" (unused here)
        self.max_batch_tokens = serving.max_batch_tokens
        self.max_num_seqs = serving.max_num_seqs or None

    def _decoding(self, state: ReplicaState, running: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Which running requests decode this iteration (budget-limited), and the blocks each then holds."""
        table, kv = state.table, state.kv
        in_decode = table.prefill_done[running] >= table.prefill_target[running]
        grows = in_decode
        if running.size > self.max_batch_tokens:
            grows = in_decode & (np.cumsum(in_decode) <= self.max_batch_tokens)
        held = kv.held_blocks(table.reserved_blocks[running], table.kv_tokens[running] + grows)
        return grows, held

    def _preempt_to_fit(self, state: ReplicaState) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[int]]:
        """Drop the latest admitted requests until the decoding ones fit: (running, grows, held, pre-empted).

        Dropping the latest admitted leaves the others as they were: the token budget goes to the decodes
        in admission order, so who grows among the earlier ones does not depend on the later ones, and
        each request's blocks depend on its own growth. So the requests kept are the longest prefix of
        the running ones whose blocks fit, and the rest are pre-empted, latest first.
        """
        running = np.array(state.running, dtype=np.int64)
        grows, held = self._decoding(state, running)
        keep = int(np.searchsorted(np.cumsum(held), state.kv.capacity_blocks, side="right"))
        return running[:keep], grows[:keep], held[:keep], running[keep:][::-1].tolist()

    @staticmethod
    def _steady(decodes: int, prefills: int) -> bool:
        """Whether the scheduler would plan the same decode-only batch next iteration (``IterationPlan.steady``).

        Nothing to prefill, and some decodes. A queue blocked now stays blocked, since free blocks only
        shrink while decoding. A pre-emption does not break this: the request put back at the front of
        the queue needs the blocks of its prompt and generated tokens (prompt reservation) or of its whole
        life (full), at least what it held with this iteration's growth, and the others' blocks alone
        plus that exceeded capacity, so it cannot come back before a request finishes.
        """
        return prefills == 0 and decodes > 0

    def plan(self, state: ReplicaState) -> IterationPlan:
        table, kv = state.table, state.kv
        running, grows, held, preempted = self._preempt_to_fit(state)
        decode_ids = running[grows]
        budget = self.max_batch_tokens - decode_ids.size

        prefilling, chunks = EMPTY_IDS, EMPTY_IDS
        if decode_ids.size < running.size:
            prefilling = running[table.prefill_done[running] < table.prefill_target[running]]
            remaining = table.prefill_target[prefilling] - table.prefill_done[prefilling]
            before = np.cumsum(remaining) - remaining
            chunks = np.clip(budget - before, 0, remaining)
            budget -= int(chunks.sum())

        admitted: list[int] = []
        admit_chunks: list[int] = []
        if not preempted:
            used = int(held.sum())
            seqs = running.size
            for rid in state.waiting:
                if budget <= 0 or (self.max_num_seqs is not None and seqs >= self.max_num_seqs):
                    break
                need = kv.admission_blocks(
                    table.prefill_target[rid], table.prompt_tokens[rid], table.output_tokens[rid]
                )
                if used + need > kv.admissible_blocks:
                    break
                chunk = min(int(table.prefill_target[rid]), budget)
                admitted.append(rid)
                admit_chunks.append(chunk)
                used += int(need)
                seqs += 1
                budget -= chunk

        prefill_ids, prefill_chunks = EMPTY_IDS, EMPTY_IDS
        if prefilling.size or admitted:
            keep = chunks > 0
            prefill_ids = np.concatenate([prefilling[keep], np.array(admitted, dtype=np.int64)])
            prefill_chunks = np.concatenate([chunks[keep], np.array(admit_chunks, dtype=np.int64)])
        return IterationPlan(
            decode_ids=decode_ids,
            prefill_ids=prefill_ids,
            prefill_chunk_tokens=prefill_chunks,
            prefill_done_tokens=table.prefill_done[prefill_ids],
            preempt_ids=tuple(preempted),
            admit_ids=tuple(admitted),
            # the same decode set repeats until a request finishes, blocks run out
            # or a request arrives (the engine watches all three)
            steady=self._steady(decode_ids.size, prefill_ids.size),
        )
