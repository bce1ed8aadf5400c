"""The L3 adaptive sub-batch scheduler (paper section "scheduler"; spec section 7; docs/scheduler.md).

Two sub-batches alternate on the GPU and the PIM. With c_p, f_p the prefill
chunks and done tokens of a sub-batch and f_d the contexts of its decodes:

    T_GPU_i = t_p(c_p_i, f_p_i) + t_batch(c_p_i, f_d_(1-i))   (GPU stage i)
    T_PIM_i = t_d(f_d_i) + t_comm(f_d_i, c_p_i)                (PIM stage i)

GPU stage i carries the dense layers of the *other* sub-batch's decodes, so
it runs while the PIM runs stage i (attention of this sub-batch's decodes):
phase i = (T_GPU_i || T_PIM_i), and an iteration is the two phases. The
paper's t_comm of PIM stage 0 names the other sub-batch's prefill (c_p1);
the systems (docs/systems.md) charge the prefill KV of the GPU stage that
runs beside it, c_p_i, and the scheduler predicts what the system charges.
In the plan, the systems' sub-batch g is the GPU stage g: prefills p_g with
the decodes whose dense layers run there, i.e. this module's d_(1-g).

Policy (``form_sub_batches``), per iteration:
1. One prefill goes to each sub-batch: first the admitted requests still in
   prefill, then the waiting queue in order (FCFS, no skipping), each only if
   its KV reservation fits the free blocks and the token budget has room.
2. For each prefill added, the decoding requests not yet in a sub-batch go N
   at a time to each sub-batch, chosen to balance the sub-batch's per-rank
   load, while T_PIM_i < T_GPU_i. N = 1 for MHA, 16 for GQA.
3. Repeat from 1 while prefills wait and memory has room. Decodes left over
   go N at a time to the sub-batch with the shorter phase. If memory is full
   (the next waiting request does not fit) and a phase has its bubble on the
   PIM side (T_GPU_i > T_PIM_i), the last prefill of that sub-batch is cut to
   the longest chunk whose predicted T_GPU_i still fits under T_PIM_i.

A decoding request keeps its sub-batch until it finishes or is pre-empted
(the paper is silent on moving requests between sub-batches; keeping them
makes decode-only stretches repeat the same plan, so the engine advances them
in closed form). The times come from predictors (``StagePredictor``); the
system's cost model gives the actual timing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from l3sim.errors import ConfigError

# Decodes placed per step (paper): a GQA head group amortises the PIM's fixed per-request work over more
# tokens, so the balance moves in coarser steps.
DECODE_STEP_MHA = 1
DECODE_STEP_GQA = 16
# Candidate chunk lengths evaluated when cutting a prefill (one vectorised prediction per cut).
CHUNK_CANDIDATES = 64


class StagePredictor(Protocol):
    """Predicted seconds of GPU and PIM stages; every argument may be an array (one answer per element)."""

    def gpu_s(self, chunk_tokens: np.ndarray, done_tokens: np.ndarray, num_decodes: np.ndarray) -> np.ndarray:
        """GPU stage with these prefills, for each decode count in ``num_decodes``."""
        ...

    def pim_s(self, decode_context_tokens, num_decodes, other_prefill_tokens) -> np.ndarray: ...


def decode_step(gqa_group: int) -> int:
    """N of the policy: 1 for MHA (gqa group 1), 16 for GQA."""
    return DECODE_STEP_MHA if gqa_group == 1 else DECODE_STEP_GQA


@dataclass
class SubBatch:
    """One sub-batch as it is being formed: its decodes (sums and per-rank load) and its prefills."""

    ranks: int
    decode_ids: list[int] = field(default_factory=list)
    decode_tokens: float = 0.0
    num_decodes: int = 0
    prefill_ids: list[int] = field(default_factory=list)
    prefill_chunks: list[int] = field(default_factory=list)
    prefill_done: list[int] = field(default_factory=list)
    rank_load: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.rank_load = np.zeros(self.ranks)

    def add_decode(self, rid: int, context_tokens: int, rank: int) -> None:
        self.decode_ids.append(rid)
        self.decode_tokens += context_tokens
        self.num_decodes += 1
        self.rank_load[rank] += context_tokens

    @property
    def prefill_tokens(self) -> int:
        return int(sum(self.prefill_chunks))


@dataclass(frozen=True)
class Decode:
    """A decoding request to place: its id, the context its step attends over, its rank in a rankset."""

    rid: int
    context_tokens: int
    rank: int


@dataclass(frozen=True)
class Prefill:
    """A prefill candidate: tokens left to prefill, tokens done, KV blocks its admission needs (0: admitted)."""

    rid: int
    remaining_tokens: int
    done_tokens: int
    blocks: int


@dataclass(frozen=True)
class Formed:
    """The policy's answer: two sub-batches, and whether the memory was full (step 3 applied)."""

    sub_batches: tuple[SubBatch, SubBatch]
    memory_full: bool


def stage_times(pair: tuple[SubBatch, SubBatch], predictor: StagePredictor) -> tuple[np.ndarray, np.ndarray]:
    """Predicted (T_GPU_0, T_GPU_1) and (T_PIM_0, T_PIM_1) of two formed sub-batches."""
    gpu = np.array([float(predictor.gpu_s(np.array(sb.prefill_chunks), np.array(sb.prefill_done),
                                          np.array([pair[1 - i].num_decodes]))[0]) for i, sb in enumerate(pair)])
    pim = np.array([float(np.asarray(predictor.pim_s(sb.decode_tokens, sb.num_decodes,
                                                      sb.prefill_tokens)).reshape(-1)[0]) for sb in pair])
    return gpu, pim


def _pick_balanced(pool: list[Decode], sb: SubBatch) -> Decode:
    """The pooled decode whose rank is least loaded in ``sb`` (longest context first among those)."""
    best = min(range(len(pool)), key=lambda k: (sb.rank_load[pool[k].rank], -pool[k].context_tokens, k))
    return pool.pop(best)


def _add_step(pool: list[Decode], sb: SubBatch, step: int) -> None:
    for _ in range(min(step, len(pool))):
        decode = _pick_balanced(pool, sb)
        sb.add_decode(decode.rid, decode.context_tokens, decode.rank)


def _pim_below_gpu(pair: tuple[SubBatch, SubBatch], i: int, predictor: StagePredictor) -> bool:
    gpu, pim = stage_times(pair, predictor)
    return bool(pim[i] < gpu[i])


def _cut_last_prefill(pair: tuple[SubBatch, SubBatch], i: int, predictor: StagePredictor,
                      min_chunk_tokens: int) -> None:
    """Cut sub-batch i's last prefill to the longest chunk with T_GPU_i <= T_PIM_i (at least ``min_chunk_tokens``)."""
    sb, other = pair[i], pair[1 - i]
    full = sb.prefill_chunks[-1]
    low = min(min_chunk_tokens, full)
    candidates = np.unique(np.linspace(low, full, min(CHUNK_CANDIDATES, full - low + 1)).round().astype(np.int64))
    head_chunks, head_done = np.array(sb.prefill_chunks[:-1]), np.array(sb.prefill_done[:-1])
    gpu = np.array([float(predictor.gpu_s(np.append(head_chunks, c), np.append(head_done, sb.prefill_done[-1]),
                                          np.array([other.num_decodes]))[0]) for c in candidates])
    # T_PIM_i carries the transfer of this prefill's KV, so it moves with the cut too
    pim = np.asarray(predictor.pim_s(sb.decode_tokens, sb.num_decodes, candidates + sum(head_chunks)), dtype=float)
    fits = candidates[gpu <= pim]
    sb.prefill_chunks[-1] = int(fits.max()) if fits.size else int(candidates[0])


def form_sub_batches(
    kept: tuple[SubBatch, SubBatch],
    pool: list[Decode],
    prefills: list[Prefill],
    room_blocks: int,
    token_budget: int,
    step: int,
    predictor: StagePredictor,
    min_chunk_tokens: int = 1,
) -> Formed:
    """Apply the policy (module docstring) to sub-batches holding their kept decodes; returns them filled.

    ``pool``: decoding requests without a sub-batch yet; ``prefills``: candidates in order (admitted ones
    first, then the waiting queue); ``room_blocks``: KV blocks free for admissions; ``token_budget``:
    prefill tokens allowed this iteration.
    """
    if step < 1:
        raise ConfigError(f"decode step N must be >= 1 (got {step})")
    pair = kept
    pool = list(pool)
    queue = list(prefills)
    budget = token_budget
    blocked = False  # the next candidate wants more blocks than are free
    while queue and budget > 0 and not blocked:
        added = []
        for i in (0, 1):
            if not queue or budget <= 0:
                break
            if queue[0].blocks > room_blocks:
                blocked = True
                break
            cand = queue.pop(0)
            chunk = min(cand.remaining_tokens, budget)
            pair[i].prefill_ids.append(cand.rid)
            pair[i].prefill_chunks.append(chunk)
            pair[i].prefill_done.append(cand.done_tokens)
            room_blocks -= cand.blocks
            budget -= chunk
            added.append(i)
        for i in added:
            while pool and _pim_below_gpu(pair, i, predictor):
                _add_step(pool, pair[i], step)
        if not added:
            break
    while pool:
        gpu, pim = stage_times(pair, predictor)
        _add_step(pool, pair[int(np.argmin(np.maximum(gpu, pim)))], step)
    memory_full = blocked
    if memory_full:
        gpu, pim = stage_times(pair, predictor)
        for i in (0, 1):
            if pair[i].prefill_chunks and gpu[i] > pim[i]:
                _cut_last_prefill(pair, i, predictor, min_chunk_tokens)
    return Formed(pair, memory_full)


class LearnedStagePredictor:
    """StagePredictor from the trained predictors (``serving.predictors``): features in, seconds out."""

    def __init__(self, gpu, pim) -> None:
        self.gpu = gpu
        self.pim = pim

    def gpu_s(self, chunk_tokens, done_tokens, num_decodes) -> np.ndarray:
        from l3sim.serving.predictors import gpu_features

        return self.gpu.predict(gpu_features(chunk_tokens, done_tokens, num_decodes))

    def pim_s(self, decode_context_tokens, num_decodes, other_prefill_tokens) -> np.ndarray:
        from l3sim.serving.predictors import pim_features

        return self.pim.predict(pim_features(decode_context_tokens, num_decodes, other_prefill_tokens))
