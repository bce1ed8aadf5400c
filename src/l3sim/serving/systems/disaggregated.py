"""Attention-FC disaggregated systems: the GPUs run the dense layers and prefill attention, an attention
device holds the KV cache and runs decode attention, two sub-batches interleave.

Per sub-batch i of a plan (docs/systems.md):

- ``T_GPU_i`` = prefill attention of its chunks + the dense layers over its tokens (decodes + chunk
  tokens, logits for its decodes and completing prefills) on the GPU cost model;
- ``T_ATT_i`` = decode attention of its decodes on the attention device (the busiest slot) + the
  communication on the attention side (``hw.comm``: its decode vectors over PCIe, the DDR share of them
  and of the other sub-batch's prefill KV).

One iteration (every request of both sub-batches advances once) takes
``max(T_GPU_0, T_ATT_1) + max(T_GPU_1, T_ATT_0)``: the GPU runs sub-batch 0 while the device runs
sub-batch 1, then they swap. A plan without sub-batches puts everything in sub-batch 0, so the formula
becomes ``T_GPU_0 + T_ATT_0`` (no interleaving: ``hbm-pim-single``). Layers are uniform, so the
per-layer alternation sums to the same totals.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from l3sim.hw.comm import CommModel, build_comm
from l3sim.hw.devices.base import AttentionDevice
from l3sim.serving.account import AccountBasis, StageTerms, account_terms
from l3sim.serving.affine import affine_max
from l3sim.serving.plan import EMPTY_IDS, IterationCost, IterationPlan, Phase, SegmentCost
from l3sim.serving.state import ReplicaState, RequestTable
from l3sim.serving.systems import slot_placement
from l3sim.serving.systems.accounting import (
    CountRates,
    decode_increment_counts,
    first_time_chunks,
    nominal_gpu_cost,
    plan_counts,
)
from l3sim.serving.systems.base import SubBatchTimedSystem
from l3sim.serving.systems.decode_stage import SUB_BATCHES, DecodeStage, bin_sums
from l3sim.serving.systems.fc_memo import MemoizedFCTime
from l3sim.spec.model import ModelSpec
from l3sim.spec.run import RunSpec



class _Stages:
    """Both sub-batches' stage times at iteration 0 of a plan, and their growth per steady iteration;
    ``account``: each sub-batch's terms of the run's account (empty when the system keeps none)."""

    def __init__(self, gpu: list[float], att: list[float], att_inc: list[float], att_valid: int, comm: list[float]):
        self.gpu, self.att, self.att_inc, self.att_valid, self.comm = gpu, att, att_inc, att_valid, comm
        self.account: list[StageTerms] = []
        self.prefill_attention: list[float] = [0.0] * SUB_BATCHES  # the part of ``gpu`` that is prefill attention
        self.pipelined = False  # the plan has two sub-batches (interleaved), not one batch back to back


class _Prefills(NamedTuple):
    """Per sub-batch: prefill attention seconds on the GPU, chunk tokens, chunks completing their prefill;
    for the run's account (empty when not kept) the same less recomputed tokens: attention seconds at
    the run's speed and at nominal peak, and chunk tokens."""

    attention_s: list[float]
    tokens: list[int]
    completing: list[int]
    first_time_attention_s: list[float]
    first_time_nominal_attention_s: list[float]
    first_time_tokens: list[int]


class _Decodes(NamedTuple):
    """Per sub-batch: decoding requests and its busiest slot as an ``affine_max`` piece (decode seconds at
    iteration 0, growth per iteration, span); and the decodes' summed attention context, in all and per
    sub-batch."""

    count: list[int]
    attention: list[tuple[float, float, int]]
    context_tokens: int
    sub_batch_context_tokens: list[float]


class DisaggregatedSystem(SubBatchTimedSystem):
    """A GPU side shared by every system plus one attention device and its communication model."""

    resources = ("gpu", "attention", "pcie")

    def __init__(
        self,
        name: str,
        default_scheduler: str,
        gpu_cost,
        device: AttentionDevice,
        comm: CommModel,
        model: ModelSpec,
        rankset_tracks: int = 1,
        nominal_gpu=None,
        nominal_bw_bytes_per_s: float = 0.0,
    ) -> None:
        self.name = name
        self.default_scheduler = default_scheduler
        self.gpu = gpu_cost
        self.device = device
        self.comm = comm
        self.model = model
        self._rates = CountRates.of(model)
        self.kv_bytes_per_token = model.kv_bytes_per_token
        self.kv_capacity_bytes = float(device.kv_capacity_bytes)
        self.fits = bool(gpu_cost.fits)
        self.does_not_fit_reason = gpu_cost.does_not_fit_reason or ""
        self._tracks = (
            tuple(f"pim rankset {r}" for r in range(rankset_tracks)) if rankset_tracks > 1 else (device.name,)
        )
        self._fc = MemoizedFCTime(gpu_cost)
        self._decode_stage = DecodeStage(device.slots, device.fixed_s, device.per_token_s)
        self._timeline = True  # build each iteration's timeline intervals (``without_timeline``)
        # the run's account (serving/account.py): GPU and attention device at nominal peak; None: no account
        self.nominal_gpu = nominal_gpu if nominal_bw_bytes_per_s > 0 else None
        self._nominal_per_token_s = model.kv_bytes_per_token / nominal_bw_bytes_per_s if self.nominal_gpu else 0.0
        self._nominal_fc = MemoizedFCTime(self.nominal_gpu) if self.nominal_gpu else None
        self._labels = tuple(  # timeline labels of each sub-batch: GPU stage (FC, then prefill attention),
            # transfers, decode attention; the demo's timeline colours intervals by these words
            (f"sub-batch {i} FC", f"sub-batch {i} prefill attention", f"sub-batch {i} transfers",
             f"sub-batch {i} decode attention")
            for i in range(SUB_BATCHES)
        )

    # ---- what-if API (schedulers and predictors ask it) ---------------------
    def fc_s(self, num_tokens: int, num_logits: int) -> float:
        """Dense layers over ``num_tokens`` tokens with ``num_logits`` LM-head rows; 0 for no tokens."""
        return self._fc(num_tokens, num_logits)

    def nominal_fc_s(self, num_tokens: int, num_logits: int) -> float:
        """``fc_s`` at nominal peak (``nominal_gpu``); 0 for no tokens."""
        return self._nominal_fc(num_tokens, num_logits)

    def account_basis(self) -> AccountBasis | None:
        """The device figures of the run's account (None: built without a nominal GPU, no account)."""
        if self.nominal_gpu is None:
            return None
        nominal = self.nominal_gpu
        return AccountBasis(
            slots=self.device.slots,
            fixed_s=self.device.fixed_s,
            per_token_s=self.device.per_token_s,
            nominal_per_token_s=self._nominal_per_token_s,
            attention_on_gpu=False,
            fc_s=lambda n: self.fc_s(n, n),
            nominal_fc_s=lambda tokens: np.asarray(nominal.fc_time_s(tokens, tokens), dtype=float),
        )

    def gpu_stage_s(self, chunk_tokens, done_tokens, num_decodes: int, num_logits: int | None = None) -> float:
        """T_GPU of a hypothetical sub-batch: prefill attention of the chunks + dense layers over its tokens.

        ``num_logits`` defaults to one row per decode and per chunk (every chunk completing its prefill).
        """
        chunks = np.asarray(chunk_tokens, dtype=np.int64)
        logits = num_decodes + chunks.size if num_logits is None else num_logits
        attention = float(np.sum(self.gpu.prefill_attention_time_s(chunks, done_tokens))) if chunks.size else 0.0
        return attention + self.fc_s(int(chunks.sum()) + num_decodes, logits)

    def slot_loads_s(self, context_tokens, slots) -> np.ndarray:
        """Seconds per slot of one decode step (all layers) of requests attending over ``context_tokens``."""
        count, total = bin_sums(context_tokens, slots, self.device.slots)
        return self.device.fixed_s * count + self.device.per_token_s * total

    def attention_stage_s(self, context_tokens, slots, other_prefill_tokens: int = 0) -> float:
        """T_ATT of a hypothetical sub-batch whose decodes sit on ``slots``: busiest slot + communication."""
        ctx = np.asarray(context_tokens)
        loads = self.slot_loads_s(ctx, slots)
        compute = float(loads.max()) if ctx.size else 0.0
        return compute + self.comm.attention_side_s(int(ctx.size), other_prefill_tokens)

    def pim_stage_s(self, decode_context_tokens, other_prefill_tokens: int) -> float:
        """T_ATT with the decodes placed as ``place`` would place them one by one (longest first)."""
        ctx = np.sort(np.asarray(decode_context_tokens, dtype=np.float64))[::-1]
        slots = slot_placement.place(np.zeros(self.device.slots), ctx, self.device.fixed_s, self.device.per_token_s)
        return self.attention_stage_s(ctx, slots, other_prefill_tokens)

    def without_account(self) -> None:
        """No nominal-peak terms (``System.without_account``)."""
        self.nominal_gpu = None
        self._nominal_fc = None

    def without_timeline(self) -> None:
        """No timeline intervals (``System.without_timeline``): a dozen ``Phase`` records per plan otherwise."""
        self._timeline = False

    def place(self, ids, state: ReplicaState) -> None:
        """Put newly admitted requests on the least-loaded slots (load: running requests' step seconds)."""
        table = state.table
        ids = np.asarray(ids, dtype=np.int64)
        if self.device.slots == 1 or ids.size == 0:
            table.slot[ids] = 0
            return
        running = np.array(state.running, dtype=np.int64)
        admitted = np.zeros(len(table), dtype=bool)
        admitted[ids] = True
        placed = running[(table.slot[running] >= 0) & ~admitted[running]]
        loads = self.slot_loads_s(np.maximum(table.kv_tokens[placed], table.prefill_target[placed]), table.slot[placed])
        table.slot[ids] = slot_placement.place(loads, table.prefill_target[ids], self.device.fixed_s,
                                               self.device.per_token_s)

    # ---- the engine's interface ---------------------------------------------
    # Called once per plan (thousands of times a run) on batches of a few hundred requests and a handful
    # of slots: per-sub-batch values are Python floats, numpy only touches per-request arrays.
    def _prefill_sub_batches(self, plan: IterationPlan, table: RequestTable) -> _Prefills:
        """Each sub-batch's prefill attention seconds, chunk tokens and chunks that complete their prefill.

        The prefill sub-batches partition ``plan.prefill_ids`` (no sub-batches: all in sub-batch 0); the
        prefill attention of all chunks is timed in one call (it is elementwise).
        """
        if not plan.prefill_ids.size:
            zeros = [0.0] * SUB_BATCHES
            return _Prefills(zeros, [0] * SUB_BATCHES, [0] * SUB_BATCHES, zeros, zeros, [0] * SUB_BATCHES)
        chunks, done = plan.prefill_chunk_tokens, plan.prefill_done_tokens
        if plan.prefill_sub_batches:
            positions = [np.asarray(idx, dtype=np.int64) for idx in plan.prefill_sub_batches]
        else:
            positions = [np.arange(chunks.size), np.zeros(0, dtype=np.int64)]
        completing = (done + chunks >= table.prefill_target[plan.prefill_ids]).tolist()
        attention = np.asarray(self.gpu.prefill_attention_time_s(chunks, done))
        seconds, tokens = attention.tolist(), chunks.tolist()
        out = _Prefills([], [], [], [], [], [])
        for pos in positions:
            which = pos.tolist()
            out.attention_s.append(_numpy_sum([seconds[i] for i in which], attention, pos))
            out.tokens.append(sum(tokens[i] for i in which))
            out.completing.append(sum(completing[i] for i in which))
        if self.nominal_gpu is not None:
            first, after, recomputed = first_time_chunks(plan, table)
            actual = np.asarray(self.gpu.prefill_attention_time_s(first, after)) if recomputed.any() else attention
            nominal = np.asarray(self.nominal_gpu.prefill_attention_time_s(first, after))
            for pos in positions:
                out.first_time_attention_s.append(float(np.sum(actual[pos])) if pos.size else 0.0)
                out.first_time_nominal_attention_s.append(float(np.sum(nominal[pos])) if pos.size else 0.0)
                out.first_time_tokens.append(int(first[pos].sum()))
        return out

    def _decode_sub_batches(self, plan: IterationPlan, table: RequestTable, limit: int) -> _Decodes:
        """Each sub-batch's decodes and busiest slot (``decode_stage``; no sub-batches: all in sub-batch 0)."""
        ids = plan.decode_ids
        second = plan.sub_batches[1] if plan.sub_batches else EMPTY_IDS
        found = self._decode_stage.pieces(ids, second, table.kv_tokens, table.slot, limit)
        if found is None:
            raise RuntimeError(f"{self.name}: requests decode before the system placed them")
        pieces, per_sub_batch = found
        return _Decodes([ids.size - second.size, second.size], pieces, int(sum(per_sub_batch)), per_sub_batch)

    def _stages(self, plan: IterationPlan, table: RequestTable, limit: int) -> tuple[_Stages, dict[str, float]]:
        decodes = self._decode_sub_batches(plan, table, limit)
        prefills = self._prefill_sub_batches(plan, table)
        gpu, att, att_inc, comm = [], [], [], []
        valid = limit
        for i in range(SUB_BATCHES):
            num_decodes = decodes.count[i]
            tokens, logits = prefills.tokens[i] + num_decodes, prefills.completing[i] + num_decodes
            gpu.append(prefills.attention_s[i] + self.fc_s(tokens, logits))
            comm.append(self.comm.attention_side_s(num_decodes, prefills.tokens[1 - i]))
            value, increment, span = decodes.attention[i]
            att.append(value)
            att_inc.append(increment)
            valid = min(valid, span)
        stages = _Stages(gpu, att, att_inc, valid, comm)
        stages.prefill_attention = list(prefills.attention_s)
        stages.pipelined = bool(plan.sub_batches)
        if self.nominal_gpu is not None:
            stages.account = [self._stage_terms(i, stages, decodes, prefills) for i in range(SUB_BATCHES)]
        num_decodes = plan.decode_ids.size
        prefill_tokens = sum(prefills.tokens)
        counts = plan_counts(
            self._rates,
            prefill_tokens,
            num_decodes,
            num_decodes + sum(prefills.completing),
            float(decodes.context_tokens),
            self.comm.pcie_bytes(num_decodes, prefill_tokens),
        )
        return stages, counts

    def _stage_terms(self, i: int, stages: _Stages, decodes: _Decodes, prefills: _Prefills) -> StageTerms:
        """Sub-batch i's terms of the run's account (``serving/account.py``)."""
        n = decodes.count[i]
        gpu, no_recompute, prefill_nominal = stages.gpu[i], stages.gpu[i], 0.0
        comm_no_recompute = stages.comm[i]
        if prefills.tokens[i]:
            tokens, logits = prefills.first_time_tokens[i] + n, prefills.completing[i] + n
            if prefills.first_time_tokens[i] < prefills.tokens[i]:
                no_recompute = prefills.first_time_attention_s[i] + self.fc_s(tokens, logits)
            prefill_nominal = (
                prefills.first_time_nominal_attention_s[i] + self.nominal_fc_s(tokens, logits) - self.nominal_fc_s(n, n)
            )
        if prefills.tokens[1 - i]:
            comm_no_recompute = self.comm.attention_side_s(n, prefills.first_time_tokens[1 - i])
        value, increment, _ = decodes.attention[i]
        return StageTerms(
            gpu, no_recompute, prefill_nominal, float(n), decodes.sub_batch_context_tokens[i], value, increment,
            stages.comm[i], comm_no_recompute,
        )

    def _cost(self, stages: _Stages, counts: dict[str, float], num_decodes: int, limit: int) -> SegmentCost:
        g, a, da, c = stages.gpu, stages.att, stages.att_inc, stages.comm
        valid = stages.att_valid
        duration, slope, phases = 0.0, 0.0, []
        for gpu_sb in range(SUB_BATCHES):
            att_sb = 1 - gpu_sb
            value, inc, span = affine_max((g[gpu_sb], a[att_sb] + c[att_sb]), (0.0, da[att_sb]), limit)
            valid = min(valid, span)
            if self._timeline:
                self._add_phases(phases, duration, gpu_sb, g[gpu_sb], stages.prefill_attention[gpu_sb], att_sb,
                                 c[att_sb], a[att_sb])
            duration += value
            slope += inc
        busy = {"gpu": g[0] + g[1], "attention": a[0] + a[1], "pcie": c[0] + c[1]}
        account = account_terms(stages.pipelined, *stages.account) if stages.account else ()
        first = IterationCost(duration, busy, counts, tuple(phases), gpu_stage_s=(g[0], g[1]),
                              attention_stage_s=(a[0] + c[0], a[1] + c[1]), account=account)
        increment = IterationCost(
            slope, {"attention": da[0] + da[1]}, decode_increment_counts(self._rates, num_decodes)
        )
        return SegmentCost(first, increment, max(1, min(valid, limit)))

    def _add_phases(
        self, out: list[Phase], start: float, gpu_sb: int, gpu_s: float, prefill_attention_s: float, att_sb: int,
        comm_s: float, att_s: float,
    ) -> None:
        """Append the timeline intervals of one half of an iteration (GPU on one sub-batch, device on the other);
        the GPU stage ``gpu_s`` is drawn as its dense layers, then its ``prefill_attention_s``."""
        fc_s = gpu_s - prefill_attention_s
        if fc_s > 0:
            out.append(Phase("gpu", start, fc_s, self._labels[gpu_sb][0]))
        if prefill_attention_s > 0:
            out.append(Phase("gpu", start + fc_s, prefill_attention_s, self._labels[gpu_sb][1]))
        if comm_s > 0:
            out.append(Phase("pcie", start, comm_s, self._labels[att_sb][2]))
        if att_s > 0:
            label = self._labels[att_sb][3]
            out.extend([Phase(track, start + comm_s, att_s, label) for track in self._tracks])

    def iteration_cost(self, plan: IterationPlan, table: RequestTable) -> IterationCost:
        stages, counts = self._stages(plan, table, 1)
        return self._cost(stages, counts, plan.decode_ids.size, 1).first

    def segment_cost(self, plan: IterationPlan, table: RequestTable, max_iterations: int) -> SegmentCost:
        stages, counts = self._stages(plan, table, max_iterations)
        return self._cost(stages, counts, plan.decode_ids.size, max_iterations)


def _numpy_sum(values: list[float], array: np.ndarray, positions: np.ndarray) -> float:
    """``float(np.sum(array[positions]))`` (0 for none), whose ``values`` are listed: added in Python for up to
    two, where numpy's sum is the same plain addition, and by numpy beyond (it adds in a pairwise order)."""
    if len(values) <= 2:
        return float(sum(values)) if values else 0.0
    return float(np.sum(array[positions]))


def compose(spec: RunSpec, entry, device: AttentionDevice, gpu=None,
            rankset_tracks: int = 1) -> DisaggregatedSystem:
    """The disaggregated system of ``entry`` (its name and default scheduler): ``spec``'s GPUs (``gpu``, built
    from ``spec`` if None) for the dense layers and ``device`` for decode attention, linked as ``spec`` says."""
    if gpu is None:
        from l3sim.hw.gpu import GPUCostModel  # lazy: l3sim.hw.gpu loads pandas; listing systems should not

        gpu = GPUCostModel(spec)
    return DisaggregatedSystem(
        entry.name, entry.default_scheduler, gpu, device, build_comm(spec, device), spec.model, rankset_tracks,
        nominal_gpu=nominal_gpu_cost(spec), nominal_bw_bytes_per_s=device.nominal_bw_bytes_per_s,
    )
