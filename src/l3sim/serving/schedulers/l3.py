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
2. For each prefill added, the pooled decoding requests (all of them when the
   sub-batches are re-formed, else those without one) go N at a time to each
   sub-batch, chosen to balance the sub-batch's per-rank load, while
   T_PIM_i < T_GPU_i. N = 1 for MHA, 16 for GQA.
3. Repeat from 1 while prefills wait and memory has room. Decodes left over
   go N at a time to the sub-batch with the shorter phase. If memory is full
   (the next waiting request does not fit) and a phase has its bubble on the
   PIM side (T_GPU_i > T_PIM_i), the last prefill of that sub-batch is cut to
   the longest chunk whose predicted T_GPU_i still fits under T_PIM_i.

The paper forms the sub-batches every iteration. Here they are re-formed from
every decoding request each time the policy runs (a prefill or a new decode to
place: ``schedulers.l3.regroup = "decision"``), and kept as they are in between,
when nothing else changes: every context grows by one token an iteration, so
the plan repeats and the engine advances it in closed form. With
``regroup = "never"`` a decode keeps its sub-batch until it finishes or is
pre-empted and only new decodes are placed (the first implementation; the
sub-batches then drift out of balance: docs/scheduler.md). The times come from
predictors (``StagePredictor``); the system's cost model gives the actual
timing.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from itertools import islice
from typing import NamedTuple, Protocol

import numpy as np

from l3sim.errors import ConfigError
from l3sim.serving.plan import EMPTY_IDS, IterationPlan
from l3sim.serving.schedulers.subbatch import SubBatchScheduler
from l3sim.serving.state import ReplicaState
from l3sim.serving.systems.base import SubBatchTimedSystem
from l3sim.spec.run import ServingSpec
from l3sim.spec.schedulers import L3SchedulerSpec

# Decodes placed per step (paper): a GQA head group amortises the PIM's fixed per-request work over more
# tokens, so the balance moves in coarser steps.
DECODE_STEP_MHA = 1
DECODE_STEP_GQA = 16
# Candidate chunk lengths when cutting a prefill (``_cut_last_prefill``).
CHUNK_CANDIDATES = 32
CUT_STRIDE = 4  # the cut asks every 4th candidate first, then the ones in the gap it found
# Waiting requests handed to the compiled plan at first (the candidates rarely reach further; if they do, it
# asks again with the whole queue): converting a long queue every plan would cost more than the plan.
WAITING_FRONT = 64


class StagePredictor(Protocol):
    """Predicted seconds of GPU and PIM stages; every argument may be an array (one answer per element)."""

    def gpu_s(self, chunk_tokens, done_tokens, num_decodes) -> np.ndarray:
        """GPU stage with these prefills, for each decode count in ``num_decodes``."""
        ...

    def gpu_s_rows(self, head_chunks, head_done, last_chunks, last_done: int, num_decodes: int) -> np.ndarray:
        """GPU stage with the ``head`` prefills and a last prefill of each length in ``last_chunks``."""
        ...

    def pim_s(self, decode_context_tokens, num_decodes, other_prefill_tokens) -> np.ndarray:
        """PIM stage of decodes attending over ``decode_context_tokens`` in all, with the transfer of the
        prefill KV of ``other_prefill_tokens``."""
        ...


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
    rank_load: list[float] = field(init=False)  # context tokens per rank (a list: read per pick, a few ranks)

    def __post_init__(self) -> None:
        self.rank_load = [0.0] * self.ranks

    @classmethod
    def holding(cls, ranks: int, ids: np.ndarray, context_tokens: np.ndarray, slots: np.ndarray) -> "SubBatch":
        """A sub-batch with these decodes already in it (the kept ones), built in one pass."""
        sb = cls(ranks, decode_ids=ids.tolist(), decode_tokens=float(context_tokens.sum()), num_decodes=int(ids.size))
        sb.rank_load = np.bincount(slots, weights=context_tokens, minlength=ranks).astype(np.float64).tolist()
        return sb

    def add_decode(self, rid: int, context_tokens: int, rank: int) -> None:
        self.decode_ids.append(rid)
        self.decode_tokens += context_tokens
        self.num_decodes += 1
        self.rank_load[rank] += context_tokens

    @property
    def prefill_tokens(self) -> int:
        return int(sum(self.prefill_chunks))


class Decode(NamedTuple):
    """A decoding request to place: its id, the context its step attends over, its rank in a rankset (a
    NamedTuple: a decision builds one per decoding request)."""

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
    """The policy's answer: two sub-batches, whether the memory was full (step 3 applied), and their
    predicted stage times (T_GPU_0, T_GPU_1) and (T_PIM_0, T_PIM_1)."""

    sub_batches: tuple[SubBatch, SubBatch]
    memory_full: bool
    gpu_s: np.ndarray
    pim_s: np.ndarray


def _gpu_s(sb: SubBatch, predictor: StagePredictor, other_decodes) -> np.ndarray:
    """Predicted T_GPU of ``sb`` for each count of the other sub-batch's decodes in ``other_decodes``."""
    return np.asarray(predictor.gpu_s(sb.prefill_chunks, sb.prefill_done, np.atleast_1d(other_decodes)), dtype=float)


def _gpu_one(sb: SubBatch, predictor: StagePredictor, other_decodes: int) -> float:
    """Predicted T_GPU of ``sb`` beside ``other_decodes`` decodes of the other sub-batch."""
    return float(np.ravel(predictor.gpu_s(sb.prefill_chunks, sb.prefill_done, other_decodes))[0])


def _pim_s(sb: SubBatch, predictor: StagePredictor, prefill_tokens: int | None = None) -> float:
    """Predicted T_PIM of ``sb``; ``prefill_tokens``: its prefill tokens when the caller knows them (a loop
    that only adds decodes asks once, not per step)."""
    value = predictor.pim_s(sb.decode_tokens, sb.num_decodes,
                            sb.prefill_tokens if prefill_tokens is None else prefill_tokens)
    return value if isinstance(value, float) else float(np.ravel(value)[0])


def stage_times(pair: tuple[SubBatch, SubBatch], predictor: StagePredictor) -> tuple[np.ndarray, np.ndarray]:
    """Predicted (T_GPU_0, T_GPU_1) and (T_PIM_0, T_PIM_1) of two formed sub-batches."""
    return (np.array([_gpu_one(sb, predictor, pair[1 - i].num_decodes) for i, sb in enumerate(pair)]),
            np.array([_pim_s(sb, predictor) for sb in pair]))


class DecodePool:
    """Decodes waiting for a sub-batch, one queue per rank, longest context first (ties: pool order), so the
    balanced pick looks at one head per rank instead of every decode."""

    def __init__(self, decodes: list[Decode]) -> None:
        self._queues: dict[int, deque[tuple[int, int, Decode]]] = {}  # rank -> (-context, pool order, decode)
        for entry in sorted((-d.context_tokens, order, d) for order, d in enumerate(decodes)):
            self._queues.setdefault(entry[2].rank, deque()).append(entry)
        self._size = len(decodes)

    def __len__(self) -> int:
        return self._size

    def pop_balanced(self, sb: SubBatch) -> Decode:
        """The decode whose rank is least loaded in ``sb`` (longest context first among those, then pool order)."""
        load = sb.rank_load
        best_rank, best_key = -1, None
        for rank, queue in self._queues.items():
            key = (load[rank], queue[0][0], queue[0][1])
            if best_key is None or key < best_key:
                best_rank, best_key = rank, key
        queue = self._queues[best_rank]
        decode = queue.popleft()[2]
        if not queue:
            del self._queues[best_rank]
        self._size -= 1
        return decode


def _add_step(pool: DecodePool, sb: SubBatch, step: int) -> None:
    for _ in range(min(step, len(pool))):
        sb.add_decode(*pool.pop_balanced(sb))


def _fill_until_pim_covers_gpu(pair: tuple[SubBatch, SubBatch], i: int, pool: DecodePool, step: int,
                               predictor: StagePredictor) -> None:
    """Step 2: add decodes to sub-batch i, ``step`` at a time, while T_PIM_i < T_GPU_i.

    T_GPU_i depends on i's prefills and the *other* sub-batch's decode count, neither of which this loop
    changes, so it is predicted once; only T_PIM_i (a dot product) is asked per step.
    """
    if not pool:
        return
    sb = pair[i]
    gpu = _gpu_one(sb, predictor, pair[1 - i].num_decodes)
    prefill_tokens = sb.prefill_tokens
    while pool and _pim_s(sb, predictor, prefill_tokens) < gpu:
        _add_step(pool, sb, step)


class _GPUCurve:
    """Predicted T_GPU of a sub-batch whose prefills are fixed, for each decode count ``base``, ``base`` + 1,
    ... of the other sub-batch, asked in blocks (one forest call each) as the counts are reached.

    Each count's answer is its own forest row, so a block gives the same numbers as asking every count
    at once; a leftover loop that splits its decodes evenly reaches about half of each sub-batch's
    counts, so the first block covers half of them and each later one doubles what is known.
    """

    def __init__(self, sb: SubBatch, predictor: StagePredictor, base: int, reach: int, first_block: int) -> None:
        self.sb, self.predictor, self.base = sb, predictor, base
        self.reach, self.first_block = reach, max(first_block, 1)  # counts base .. base + reach can be asked
        self.values = np.zeros(0)

    def at(self, other_decodes: int) -> float:
        k = other_decodes - self.base
        if k >= self.values.size:
            known = self.base + self.values.size
            stop = self.base + max(k + 1, min(max(2 * self.values.size, self.first_block), self.reach + 1))
            self.values = np.concatenate([self.values, _gpu_s(self.sb, self.predictor, np.arange(known, stop))])
        return self.values[k]


def _place_leftovers(pair: tuple[SubBatch, SubBatch], pool: DecodePool, step: int,
                     predictor: StagePredictor) -> None:
    """Step 3's leftovers: ``step`` decodes at a time to the sub-batch with the shorter phase (ties: 0).

    T_GPU_i moves only with the other sub-batch's decode count, so it is predicted for the counts the loop
    reaches, a block at a time (``_GPUCurve``), and looked up per step.
    """
    curves = [_GPUCurve(pair[i], predictor, pair[1 - i].num_decodes, len(pool), len(pool) // 2 + 2) for i in (0, 1)]
    prefill_tokens = [sb.prefill_tokens for sb in pair]
    while pool:
        phase = [max(curves[i].at(pair[1 - i].num_decodes), _pim_s(pair[i], predictor, prefill_tokens[i]))
                 for i in (0, 1)]
        _add_step(pool, pair[0 if phase[0] <= phase[1] else 1], step)


def _cut_last_prefill(pair: tuple[SubBatch, SubBatch], i: int, predictor: StagePredictor,
                      min_chunk_tokens: int) -> tuple[float, float]:
    """Cut sub-batch i's last prefill to the longest chunk with T_GPU_i <= T_PIM_i (at least ``min_chunk_tokens``);
    returns the predicted (T_GPU_i, T_PIM_i) with the chunk chosen.

    Of CHUNK_CANDIDATES lengths, every CUT_STRIDE-th is asked first, then those between the longest that
    fits and the next one asked: the same answer as asking all of them wherever the lengths that fit are
    the shorter ones (T_GPU grows with the chunk faster than T_PIM, which grows only by its transfer), for
    about a third of the forest rows.
    """
    sb, other = pair[i], pair[1 - i]
    full = sb.prefill_chunks[-1]
    low = min(min_chunk_tokens, full)
    candidates = np.unique(np.linspace(low, full, min(CHUNK_CANDIDATES, full - low + 1)).round().astype(np.int64))
    head_chunks, head_done = sb.prefill_chunks[:-1], sb.prefill_done[:-1]
    head_tokens = sum(head_chunks)

    def times(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lengths = candidates[idx]
        gpu = predictor.gpu_s_rows(head_chunks, head_done, lengths, sb.prefill_done[-1], other.num_decodes)
        # T_PIM_i carries the transfer of this prefill's KV, so it moves with the cut too
        pim = predictor.pim_s(sb.decode_tokens, sb.num_decodes, lengths + head_tokens)
        return np.asarray(gpu, dtype=float), np.asarray(pim, dtype=float)

    probes = np.unique(np.append(np.arange(0, candidates.size, CUT_STRIDE), candidates.size - 1))
    gpu, pim = times(probes)
    fits = np.flatnonzero(gpu <= pim)
    if not fits.size:
        pick, pick_gpu, pick_pim = 0, gpu[0], pim[0]
    else:
        k = int(fits[-1])
        pick, pick_gpu, pick_pim = int(probes[k]), gpu[k], pim[k]
        if k + 1 < probes.size and probes[k + 1] > probes[k] + 1:
            between = np.arange(probes[k] + 1, probes[k + 1])
            gpu, pim = times(between)
            fits = np.flatnonzero(gpu <= pim)
            if fits.size:
                pick, pick_gpu, pick_pim = int(between[fits[-1]]), gpu[fits[-1]], pim[fits[-1]]
    sb.prefill_chunks[-1] = int(candidates[pick])
    return float(pick_gpu), float(pick_pim)


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
    pool = DecodePool(list(pool))
    queue = list(prefills)
    budget = token_budget
    blocked = False  # the next candidate wants more blocks than are free
    while queue and budget > 0 and not blocked:
        added = []
        for i in (0, 1):
            if not queue or budget <= 0:
                break
            if queue[0].blocks > max(room_blocks, 0):  # admitted prefills (0 blocks) hold their reservation
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
            _fill_until_pim_covers_gpu(pair, i, pool, step, predictor)
        if not added:
            break
    if pool:
        _place_leftovers(pair, pool, step, predictor)
    gpu, pim = stage_times(pair, predictor)
    if blocked:  # memory full: align each GPU-bound phase by cutting its last prefill
        for i in (0, 1):
            if pair[i].prefill_chunks and gpu[i] > pim[i]:
                gpu[i], pim[i] = _cut_last_prefill(pair, i, predictor, min_chunk_tokens)
    return Formed(pair, blocked, gpu, pim)


def form_sub_batches_compiled(kept: tuple[SubBatch, SubBatch], pool_ids: np.ndarray, pool_context: np.ndarray,
                              pool_ranks: np.ndarray, prefills: list[Prefill], room_blocks: int, token_budget: int,
                              step: int, model, min_chunk_tokens: int = 1) -> Formed:
    """``form_sub_batches`` with the learned predictors given as arrays (``model``: ``l3_kernel.KernelModel``),
    run by the compiled policy (``l3_kernel``): the same sub-batches and predicted times, without a Python
    call per decode. The pool is given as arrays (ids, context tokens, ranks, in pool order)."""
    from l3sim.serving.schedulers.l3_kernel import run_form_kernel

    if step < 1:
        raise ConfigError(f"decode step N must be >= 1 (got {step})")
    if kept[0].prefill_ids or kept[1].prefill_ids:
        raise ValueError("form_sub_batches_compiled: kept sub-batches hold decodes only")
    ranks, m = kept[0].ranks, len(prefills)
    # per lane, updated in place by the kernel as decodes are placed
    decode_tokens = np.array([kept[0].decode_tokens, kept[1].decode_tokens])
    num_decodes = np.array([kept[0].num_decodes, kept[1].num_decodes], dtype=np.int64)
    rank_load = np.array([kept[0].rank_load, kept[1].rank_load], dtype=np.float64)
    placed, placed_lane, prefill_lane, prefill_chunk, gpu, pim, blocked = run_form_kernel(
        np.asarray(pool_context, dtype=np.int64), np.asarray(pool_ranks, dtype=np.int64), ranks, decode_tokens,
        num_decodes, rank_load, *(np.fromiter((getattr(p, name) for p in prefills), np.int64, m)
                                  for name in ("remaining_tokens", "done_tokens", "blocks")),
        room_blocks, token_budget, step, min_chunk_tokens, *model)
    ids = np.asarray(pool_ids, dtype=np.int64)[placed]
    lanes, chunks = prefill_lane.tolist(), prefill_chunk.tolist()
    pair = []
    for lane, sb in enumerate(kept):
        taken = [k for k in range(m) if lanes[k] == lane]
        formed = SubBatch(ranks, decode_ids=sb.decode_ids + ids[placed_lane == lane].tolist(),
                          decode_tokens=float(decode_tokens[lane]), num_decodes=int(num_decodes[lane]),
                          prefill_ids=sb.prefill_ids + [prefills[k].rid for k in taken],
                          prefill_chunks=sb.prefill_chunks + [chunks[k] for k in taken],
                          prefill_done=sb.prefill_done + [prefills[k].done_tokens for k in taken])
        formed.rank_load = rank_load[lane].tolist()
        pair.append(formed)
    return Formed((pair[0], pair[1]), bool(blocked), gpu, pim)


class LearnedStagePredictor:
    """StagePredictor from the trained predictors (``serving.predictors``): features in, seconds out.

    Scalar questions (one sub-batch, one decode count), the bulk of a run's, take plain-Python paths.
    """

    def __init__(self, gpu, pim) -> None:
        self.gpu = gpu
        self.pim = pim
        self._model = None  # kernel_model's answer and what it was built from: (forest, PIM terms, model)

    def gpu_s(self, chunk_tokens, done_tokens, num_decodes) -> np.ndarray:
        from l3sim.serving.predictors import gpu_feature_row, gpu_features

        if np.ndim(num_decodes) == 0:
            return self.gpu.predict_rows(np.array([gpu_feature_row(chunk_tokens, done_tokens, num_decodes)]))
        return self.gpu.predict_rows(gpu_features(chunk_tokens, done_tokens, num_decodes))

    def gpu_s_rows(self, head_chunks, head_done, last_chunks, last_done: int, num_decodes: int) -> np.ndarray:
        from l3sim.serving.predictors import gpu_feature_rows

        last = np.asarray(last_chunks, dtype=np.float64).reshape(-1)
        chunks = np.empty((last.size, len(head_chunks) + 1))
        chunks[:, :-1] = head_chunks
        chunks[:, -1] = last
        done = np.empty_like(chunks)
        done[:, :-1] = head_done
        done[:, -1] = last_done
        return self.gpu.predict_rows(gpu_feature_rows(chunks, done, np.full(last.size, float(num_decodes))))

    def pim_s(self, decode_context_tokens, num_decodes, other_prefill_tokens):
        return self.pim.predict_columns(decode_context_tokens, num_decodes, other_prefill_tokens)

    def kernel_model(self):
        """The predictors as arrays for the compiled policy (``l3_kernel.KernelModel``), or None when they are
        not the trained forest and linear model (then the policy runs as Python, ``form_sub_batches``)."""
        from l3sim.serving.predictors import GPUTimePredictor, PIMTimePredictor

        if not (isinstance(self.gpu, GPUTimePredictor) and isinstance(self.pim, PIMTimePredictor)
                and self.gpu.forest is not None):
            return None
        forest, terms = self.gpu.forest, (*self.pim._coef_floats, self.pim.intercept_)
        if self._model is None or self._model[0] is not forest or self._model[1] != terms:  # first, or refitted
            from l3sim.serving.schedulers.l3_kernel import KernelModel

            self._model = (forest, terms, KernelModel(forest.roots, forest.nodes, forest.value, np.array(terms)))
        return self._model[2]

    def learn(self, rows: tuple[np.ndarray, np.ndarray], gpu_true: list[float], pim_true: list[float]) -> None:
        """Feed both sub-batches' actual stage times to the predictors, with their feature rows (``observed_rows``;
        one update call each)."""
        gpu_rows, pim_rows = rows
        self.gpu.update_rows(gpu_rows, np.array(gpu_true, dtype=np.float64))
        self.pim.update_rows(pim_rows, np.array(pim_true, dtype=np.float64))


def observed_rows(pair: tuple[SubBatch, SubBatch]) -> tuple[np.ndarray, np.ndarray]:
    """The rows the predictors learn from of two decided sub-batches: GPU_FEATURES of each beside the other's
    decodes, and PIM_FEATURES (``pim_features``' columns, built directly: two rows of three numbers)."""
    from l3sim.serving.predictors import gpu_feature_row

    gpu = np.array([gpu_feature_row(sb.prefill_chunks, sb.prefill_done, pair[1 - i].num_decodes)
                    for i, sb in enumerate(pair)])
    pim = np.array([[sb.decode_tokens, sb.num_decodes, sb.prefill_tokens] for sb in pair], dtype=np.float64)
    return gpu, pim


class L3Scheduler(SubBatchScheduler):
    """The L3 policy on the engine: sub-batches re-formed when it decides (``config.regroup``), predictors
    trained at the first plan. ``config`` (``RunSpec.schedulers.l3``, its defaults if None) holds every knob.

    ``system`` must time hypothetical sub-batches (``gpu_stage_s``, ``attention_stage_s``,
    ``pim_stage_s``, ``device.slots``, ``model``), as the disaggregated systems do. ``predictor`` None:
    train a GPU forest and a PIM linear model on ``config.training_samples`` samples of the system, over
    ranges taken from the replica's requests (mean context = prompt + half the output; long prompt = 99th
    percentile), then refine them online with the system's actual stage times of every plan that made a
    decision (placed a decode or a prefill), as the engine reports them to ``observe``.
    """

    name = "l3"
    settings_field = "l3"

    def __init__(self, serving: ServingSpec, system=None, predictor: StagePredictor | None = None,
                 config: L3SchedulerSpec | None = None) -> None:
        super().__init__(serving, system)
        if not isinstance(system, SubBatchTimedSystem):
            raise ConfigError("scheduler 'l3' needs a system that times sub-batches (an attention-FC "
                              "disaggregated system such as --system l3)")
        self.step = decode_step(system.model.gqa_group)
        self.slots = int(system.device.slots)
        self.predictor = predictor
        self.config = config if config is not None else L3SchedulerSpec()
        self.min_chunk_tokens = self.config.min_chunk_tokens
        self.regroup = self.config.regroup
        self.lane = np.zeros(0, dtype=np.int64)  # per request: the sub-batch its decode keeps; -1: none
        # predicted and actual stage seconds of every decision: rows of (gpu_pred, gpu_true, pim_pred, pim_true)
        self.accuracy: list[tuple[float, float, float, float]] = []
        # the last plan's decision until observed: its feature rows (observed_rows), predicted T_GPU and T_PIM
        self._pending = None
        self._plan_settings = None  # what the compiled plan reads (``_settings``)

    def _train(self, state: ReplicaState) -> StagePredictor:
        from l3sim.serving.predictors.training import SamplingRanges, train

        table = state.table
        ranges = SamplingRanges.from_lengths(
            float(np.mean(table.prompt_tokens + table.output_tokens / 2)),
            float(np.quantile(table.prompt_tokens, 0.99)),
            state.kv.capacity_tokens,
            self.max_batch_tokens,
        )
        c = self.config
        return LearnedStagePredictor(*train(self.system, ranges, c.training_samples, c.training_seed,
                                            gpu_refit_every=c.gpu_refit_every, pim_refit_every=c.pim_refit_every,
                                            gpu_trees=c.forest_trees))

    def _candidates(self, state: ReplicaState, prefilling: np.ndarray, room: int, budget: int,
                    admit: bool, running: int) -> list[Prefill]:
        """Admitted prefills, then (if ``admit``) the waiting queue up to the first request that exceeds room,
        budget or ``max_num_seqs`` (with ``running`` requests already in the batch)."""
        table, kv = state.table, state.kv
        out = [Prefill(int(r), int(table.prefill_target[r] - table.prefill_done[r]), int(table.prefill_done[r]), 0)
               for r in prefilling]
        tokens = sum(p.remaining_tokens for p in out)
        seqs = running
        for rid in state.waiting if admit else ():
            if tokens >= budget or room < 0 or (self.max_num_seqs is not None and seqs >= self.max_num_seqs):
                break
            seqs += 1
            need = int(kv.admission_blocks(table.prefill_target[rid], table.prompt_tokens[rid],
                                           table.output_tokens[rid]))
            out.append(Prefill(int(rid), int(table.prefill_target[rid]), 0, need))
            tokens += int(table.prefill_target[rid])
            room -= need
        return out

    def plan(self, state: ReplicaState) -> IterationPlan:
        """The next plan: compiled (``l3_kernel.plan_kernel``) with the trained predictors, else by ``plan_python``,
        its definition (other predictors). The predictors are trained at the first plan (``plan_python`` trains
        them at its first decision: the same predictors, as training reads only the replica's requests)."""
        if self.predictor is None:
            self.predictor = self._train(state)
        model = self.predictor.kernel_model() if isinstance(self.predictor, LearnedStagePredictor) else None
        if model is None:
            return self.plan_python(state)
        return self._plan_compiled(state, model)

    def _plan_compiled(self, state: ReplicaState, model) -> IterationPlan:
        """``plan_python``'s plan, pending decision and sub-batch of each request, from one compiled call."""
        from l3sim.serving.schedulers.l3_kernel import NEED_MORE_WAITING, run_plan_kernel

        table = state.table
        if self.lane.size != len(table):
            self.lane = np.full(len(table), -1, dtype=np.int64)
        running = np.array(state.running, dtype=np.int64)
        front = len(state.waiting) <= WAITING_FRONT
        waiting = np.fromiter(islice(state.waiting, WAITING_FRONT), np.int64)
        while True:
            out = run_plan_kernel(running, waiting, front, table.prefill_done, table.prefill_target,
                                  table.reserved_blocks, table.kv_tokens, table.prompt_tokens, table.output_tokens,
                                  table.slot, self.lane, *self._settings(state), *model)
            if out[0] != NEED_MORE_WAITING:
                break
            front, waiting = True, np.fromiter(state.waiting, np.int64)
        admitted, preempted, decodes, n1, ids, chunks, done, m0, decided, gpu, pim, gpu_rows, pim_rows = out
        self._pending = ((gpu_rows, pim_rows), gpu, pim) if decided else None
        n = decodes.size
        return IterationPlan(
            decode_ids=decodes,
            prefill_ids=ids,
            prefill_chunk_tokens=chunks,
            prefill_done_tokens=done,
            preempt_ids=tuple(preempted.tolist()),
            admit_ids=tuple(islice(state.waiting, admitted)),
            sub_batches=(np.arange(n1), np.arange(n1, n)),
            prefill_sub_batches=(np.arange(m0), np.arange(m0, ids.size)),
            steady=self._steady(n, ids.size),
        )

    def _settings(self, state: ReplicaState):
        """The numbers the compiled plan reads (``l3_kernel.PlanSettings``), built once: they do not change."""
        if self._plan_settings is None:
            from l3sim.serving.schedulers.l3_kernel import PlanSettings

            kv = state.kv
            self._plan_settings = PlanSettings(
                self.max_batch_tokens, -1 if self.max_num_seqs is None else self.max_num_seqs, kv.block_tokens,
                kv.capacity_blocks, kv.admissible_blocks, kv.reservation == "full", self.regroup == "decision",
                self.slots, self.step, self.min_chunk_tokens)
        return self._plan_settings

    def plan_python(self, state: ReplicaState) -> IterationPlan:
        """The plan (the definition the compiled one is tested against, and the path of every other predictor)."""
        table, kv = state.table, state.kv
        self._pending = None
        running, grows, held, preempted = self._preempt_to_fit(state)
        decode_ids = running[grows]
        if self.lane.size != len(table):
            self.lane = np.full(len(table), -1, dtype=np.int64)
        # only decoding requests keep a sub-batch (pre-empted or budget-stalled ones lose it)
        kept_lane = self.lane[decode_ids]
        self.lane[:] = -1
        self.lane[decode_ids] = kept_lane
        prefilling = running[table.prefill_done[running] < table.prefill_target[running]]
        room = int(kv.admissible_blocks - held.sum())
        budget = self.max_batch_tokens - decode_ids.size
        # as in continuous batching, a plan that pre-empts admits nobody but still prefills the admitted
        candidates = self._candidates(state, prefilling, room, budget, admit=not preempted, running=running.size)
        pool_ids = decode_ids[kept_lane < 0]
        kept = (decode_ids[kept_lane == 0], decode_ids[kept_lane == 1])
        # with no decode to place and the first prefill blocked (or no budget), the policy keeps the
        # sub-batches as they are: nothing to decide
        if not pool_ids.size and not (candidates and budget > 0 and candidates[0].blocks <= max(room, 0)):
            return self._to_plan(kept, ([], []), ([], []), state, preempted)
        if self.regroup == "decision":  # the policy re-forms both sub-batches from every decode
            pool_ids, kept = decode_ids, (EMPTY_IDS, EMPTY_IDS)
        pair = self._decide(state, kept, pool_ids, candidates, room, budget)
        decodes = tuple(np.array(sb.decode_ids, dtype=np.int64) for sb in pair)
        for lane, ids in enumerate(decodes):
            self.lane[ids] = lane
        return self._to_plan(decodes, tuple(sb.prefill_ids for sb in pair), tuple(sb.prefill_chunks for sb in pair),
                             state, preempted)

    def _decide(self, state: ReplicaState, kept: tuple[np.ndarray, np.ndarray], pool_ids: np.ndarray,
                candidates: list[Prefill], room: int, budget: int) -> tuple[SubBatch, SubBatch]:
        """Form the sub-batches (``form_sub_batches``) and keep their predicted stage times for ``observe``."""
        table = state.table
        if self.predictor is None:
            self.predictor = self._train(state)
        slots = np.maximum(table.slot, 0)
        pair = tuple(SubBatch.holding(self.slots, ids, table.kv_tokens[ids] + 1, slots[ids]) if ids.size
                     else SubBatch(self.slots) for ids in kept)
        model = self.predictor.kernel_model() if isinstance(self.predictor, LearnedStagePredictor) else None
        if model is not None:
            formed = form_sub_batches_compiled(pair, pool_ids, table.kv_tokens[pool_ids] + 1, slots[pool_ids],
                                               candidates, room, budget, self.step, model, self.min_chunk_tokens)
        else:
            pool = [Decode(*row) for row in zip(pool_ids.tolist(), (table.kv_tokens[pool_ids] + 1).tolist(),
                                                     slots[pool_ids].tolist())]
            formed = form_sub_batches(pair, pool, candidates, room, budget, self.step, self.predictor,
                                      self.min_chunk_tokens)
        self._pending = (observed_rows(formed.sub_batches), formed.gpu_s, formed.pim_s)
        return formed.sub_batches

    def _to_plan(self, decodes: tuple[np.ndarray, np.ndarray], prefill_ids: tuple[list[int], list[int]],
                 prefill_chunks: tuple[list[int], list[int]], state: ReplicaState,
                 preempted: list[int]) -> IterationPlan:
        """This module's sub-batch i is the systems' GPU stage i with the decodes d_(1-i) (module docstring)."""
        ids = np.array(prefill_ids[0] + prefill_ids[1], dtype=np.int64)
        chunks = np.array(prefill_chunks[0] + prefill_chunks[1], dtype=np.int64)
        # candidates came from the queue in order with no skipping: the admitted are its front
        admitted = list(islice(state.waiting, len(set(ids.tolist()) - set(state.running))))
        n1, n0 = decodes[1].size, decodes[0].size
        m0 = len(prefill_ids[0])
        return IterationPlan(
            decode_ids=np.concatenate([decodes[1], decodes[0]]),
            prefill_ids=ids,
            prefill_chunk_tokens=chunks,
            prefill_done_tokens=state.table.prefill_done[ids],
            preempt_ids=tuple(preempted),
            admit_ids=tuple(admitted),
            sub_batches=(np.arange(n1), np.arange(n1, n1 + n0)),
            prefill_sub_batches=(np.arange(m0), np.arange(m0, ids.size)),
            # the split is kept between decisions: with nothing to prefill or admit, the plan repeats
            steady=self._steady(n0 + n1, ids.size),
        )

    def observe(self, plan: IterationPlan, cost) -> None:
        """The system's stage times of the plan just decided, against the predictions; feed the predictors.

        Called by the engine with the cost of every plan; only plans that made a decision are recorded.
        The systems' GPU stage i is this module's T_GPU_i, their attention stage 1 - i this T_PIM_i.
        """
        if self._pending is None:
            return
        rows, gpu_pred, pim_pred = self._pending
        self._pending = None
        gpu_true = [cost.gpu_stage_s[i] for i in (0, 1)]
        pim_true = [cost.attention_stage_s[1 - i] for i in (0, 1)]
        self.accuracy.extend((float(gpu_pred[i]), gpu_true[i], float(pim_pred[i]), pim_true[i]) for i in (0, 1))
        if isinstance(self.predictor, LearnedStagePredictor):
            self.predictor.learn(rows, gpu_true, pim_true)
