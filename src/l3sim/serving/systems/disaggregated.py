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

import numpy as np

from l3sim.hw.comm import CommModel
from l3sim.hw.devices.base import AttentionDevice
from l3sim.serving.affine import affine_max
from l3sim.serving.plan import IterationCost, IterationPlan, Phase, SegmentCost
from l3sim.serving.state import ReplicaState, RequestTable
from l3sim.serving.systems.accounting import decode_increment_counts, plan_counts
from l3sim.spec.model import ModelSpec

SUB_BATCHES = 2


class _Stages:
    """Both sub-batches' stage times at iteration 0 of a plan, and their growth per steady iteration."""

    def __init__(self, gpu: list[float], att: list[float], att_inc: list[float], att_valid: int, comm: list[float]):
        self.gpu, self.att, self.att_inc, self.att_valid, self.comm = gpu, att, att_inc, att_valid, comm


class DisaggregatedSystem:
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
    ) -> None:
        self.name = name
        self.default_scheduler = default_scheduler
        self.gpu = gpu_cost
        self.device = device
        self.comm = comm
        self.model = model
        self.kv_bytes_per_token = model.kv_bytes_per_token
        self.kv_capacity_bytes = float(device.kv_capacity_bytes)
        self.fits = bool(gpu_cost.fits)
        self.does_not_fit_reason = gpu_cost.does_not_fit_reason or ""
        self._tracks = (
            tuple(f"pim rankset {r}" for r in range(rankset_tracks)) if rankset_tracks > 1 else (device.name,)
        )
        self._fc_memo: dict[tuple[int, int], float] = {}

    # ---- what-if API (schedulers and predictors ask it) ---------------------
    def fc_s(self, num_tokens: int, num_logits: int) -> float:
        """Dense layers over ``num_tokens`` tokens with ``num_logits`` LM-head rows; 0 for no tokens."""
        if num_tokens == 0:
            return 0.0
        key = (num_tokens, num_logits)
        value = self._fc_memo.get(key)
        if value is None:
            value = self._fc_memo[key] = float(self.gpu.fc_time_s(num_tokens, num_logits))
        return value

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
        ctx = np.asarray(context_tokens, dtype=np.float64)
        where = np.asarray(slots, dtype=np.int64)
        count = np.bincount(where, minlength=self.device.slots)
        total = np.bincount(where, weights=ctx, minlength=self.device.slots)
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
        loads = np.zeros(self.device.slots)
        slots = np.empty(ctx.size, dtype=np.int64)
        for i, c in enumerate(ctx):
            slots[i] = int(np.argmin(loads))
            loads[slots[i]] += self.device.fixed_s + self.device.per_token_s * c
        return self.attention_stage_s(ctx, slots, other_prefill_tokens)

    def place(self, ids, state: ReplicaState) -> None:
        """Put newly admitted requests on the least-loaded slots (load: running requests' step seconds)."""
        table = state.table
        ids = np.asarray(ids, dtype=np.int64)
        if self.device.slots == 1 or ids.size == 0:
            table.slot[ids] = 0
            return
        running = np.array(state.running, dtype=np.int64)
        placed = running[(table.slot[running] >= 0) & ~np.isin(running, ids)]
        loads = self.slot_loads_s(np.maximum(table.kv_tokens[placed], table.prefill_target[placed]), table.slot[placed])
        for rid in ids:
            slot = int(np.argmin(loads))
            table.slot[rid] = slot
            loads[slot] += self.device.fixed_s + self.device.per_token_s * float(table.prefill_target[rid])

    # ---- the engine's interface ---------------------------------------------
    def _split(self, plan: IterationPlan) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Decode ids and prefill positions (into ``plan.prefill_ids``) of each sub-batch."""
        if plan.sub_batches:
            decodes = [plan.decode_ids[idx] for idx in plan.sub_batches]
        else:
            decodes = [plan.decode_ids, plan.decode_ids[:0]]
        if plan.prefill_sub_batches:
            prefills = [np.asarray(idx, dtype=np.int64) for idx in plan.prefill_sub_batches]
        else:
            prefills = [np.arange(plan.prefill_ids.size), np.zeros(0, dtype=np.int64)]
        return decodes, prefills

    def _stages(self, plan: IterationPlan, table: RequestTable, limit: int) -> tuple[_Stages, dict[str, float]]:
        decodes, prefills = self._split(plan)
        chunks, done = plan.prefill_chunk_tokens, plan.prefill_done_tokens
        completing = done + chunks >= table.prefill_target[plan.prefill_ids]
        gpu, att, att_inc, comm = [], [], [], []
        valid = limit
        for i in range(SUB_BATCHES):
            ids, pos = decodes[i], prefills[i]
            logits = ids.size + int(np.count_nonzero(completing[pos]))
            gpu.append(self.gpu_stage_s(chunks[pos], done[pos], ids.size, logits))
            other_prefill = int(chunks[prefills[1 - i]].sum())
            comm.append(self.comm.attention_side_s(ids.size, other_prefill))
            if ids.size == 0:
                att.append(0.0)
                att_inc.append(0.0)
                continue
            slots = table.slot[ids]
            if np.any(slots < 0):
                raise RuntimeError(f"{self.name}: requests decode before the system placed them")
            first = self.slot_loads_s(table.kv_tokens[ids] + 1, slots)
            slope = self.device.per_token_s * np.bincount(slots, minlength=self.device.slots)
            value, increment, span = affine_max(first, slope, limit)
            att.append(value)
            att_inc.append(increment)
            valid = min(valid, span)
        context = float(table.kv_tokens[plan.decode_ids].sum() + plan.decode_ids.size)
        counts = plan_counts(
            self.model,
            int(chunks.sum()),
            plan.decode_ids.size,
            plan.decode_ids.size + int(np.count_nonzero(completing)),
            context,
            self.comm.pcie_bytes(plan.decode_ids.size, int(chunks.sum())),
        )
        return _Stages(gpu, att, att_inc, valid, comm), counts

    def _cost(self, stages: _Stages, counts: dict[str, float], num_decodes: int, limit: int) -> SegmentCost:
        g, a, da, c = stages.gpu, stages.att, stages.att_inc, stages.comm
        valid = stages.att_valid
        duration, slope, phases = 0.0, 0.0, []
        start = 0.0
        for gpu_sb in range(SUB_BATCHES):
            att_sb = 1 - gpu_sb
            value, inc, span = affine_max(np.array([g[gpu_sb], a[att_sb] + c[att_sb]]), np.array([0.0, da[att_sb]]), limit)
            valid = min(valid, span)
            phases.extend(self._phases(start, gpu_sb, g[gpu_sb], att_sb, c[att_sb], a[att_sb]))
            duration += value
            slope += inc
            start += value
        busy = {"gpu": g[0] + g[1], "attention": a[0] + a[1], "pcie": c[0] + c[1]}
        first = IterationCost(duration, busy, counts, tuple(phases), gpu_stage_s=(g[0], g[1]),
                              attention_stage_s=(a[0] + c[0], a[1] + c[1]))
        increment = IterationCost(
            slope, {"attention": da[0] + da[1]}, decode_increment_counts(self.model, num_decodes)
        )
        return SegmentCost(first, increment, max(1, min(valid, limit)))

    def _phases(self, start: float, gpu_sb: int, gpu_s: float, att_sb: int, comm_s: float, att_s: float):
        out = []
        if gpu_s > 0:
            out.append(Phase("gpu", start, gpu_s, f"sub-batch {gpu_sb} FC + prefill"))
        if comm_s > 0:
            out.append(Phase("pcie", start, comm_s, f"sub-batch {att_sb} transfers"))
        if att_s > 0:
            out.extend(Phase(track, start + comm_s, att_s, f"sub-batch {att_sb} decode attention") for track in self._tracks)
        return out

    def iteration_cost(self, plan: IterationPlan, table: RequestTable) -> IterationCost:
        stages, counts = self._stages(plan, table, 1)
        return self._cost(stages, counts, plan.decode_ids.size, 1).first

    def segment_cost(self, plan: IterationPlan, table: RequestTable, max_iterations: int) -> SegmentCost:
        stages, counts = self._stages(plan, table, max_iterations)
        return self._cost(stages, counts, plan.decode_ids.size, max_iterations)
