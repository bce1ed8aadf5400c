"""Where the time goes: a run's bound and the exact, named losses between it and the makespan.

**Bound.** Per iteration, the time it would take if every device ran at its nominal peak (GPU operators
at peak FLOP/s and HBM bandwidth, no utilisation caps or calibrated efficiencies, all-reduces at the
NVLink bandwidth with no per-call latency; the attention device reading the iteration's KV bytes at its
nominal bandwidth, with no fixed per-request costs and the load spread evenly over its slots; transfers
hidden), with the system's own overlap structure: a plan with two sub-batches is a two-stage pipeline
whose iteration is at least the busier device's total work, ``max(G0 + G1, A0 + A1)``; a plan without
sub-batches runs its stages back to back, ``G + A``. Prefill work is part of the bound (at nominal speed);
recomputed prefill tokens are not. ``bound_s`` is the sum over the run's iterations.

**Losses.** The gap ``makespan_s - bound_s`` is split by removing one overhead at a time from every
iteration, in this fixed order, and timing the iteration after each removal with the system's formula
``max(G0, A1) + max(G1, A0)`` (each stage: G = the GPU's, A = the attention device's incl. its
communication); a category is the time its removal saves, so the categories add up to the gap by
construction (a telescoping sum):

1. ``preemption_recompute``: prefill chunk tokens a request had stored before a pre-emption dropped them
   (their GPU stage and the DDR-channel time of their KV), at the run's speed.
2. ``prefill``: the remaining prefill chunks' cost above their nominal cost (GPU stage with the decodes'
   dense layers at the run's speed plus the prefill's increment at nominal speed).
3. ``host_link``: every transfer on the attention stage's critical path (q/k/v and outputs over the host
   links with their per-DMA latency, the DDR-channel time of transfers that rankset overlap does not hide).
4. ``placement_imbalance``: the busiest slot (rank group) of each sub-batch over the mean over all slots.
5. ``fixed_per_call``: the attention device's fixed cost per request and step (q/k/v writes into the
   DIMMs, read-outs, the rank PU's tail).
6. ``attention_dram``: the attention device's per-token cost above its nominal bandwidth (activations,
   precharges, refresh, command-bus limits; a bandwidth device's ``bw_util``). On GPU-only, where the GPU
   is the attention device, this rate gap is counted as ``gpu_efficiency``.
7. ``gpu_efficiency``: the decodes' dense layers (and, GPU-only, decode attention) at the cost source's
   speed over the nominal roofline.
8. ``drain``: iterations with nothing waiting whose batch is below the batch capacity allows (capped at
   the largest batch the replica reached): the dense layers' weight reads shared by fewer tokens,
   ``FC*(b) - FC*(s b) / s`` with ``s`` = allowed / achieved batch.
9. ``pipeline_bubble``: sub-batch plans' ``max(G0, A1) + max(G1, A0)`` over ``max(G0 + G1, A0 + A1)``
   (one stage waiting for the other; sub-batch imbalance).
10. ``idle``: time a replica is not iterating: waiting for arrivals or, with dp > 1, for the others.

Every removal can only shorten an iteration (costs are monotone in the work, the max-plus formula is
monotone), so every category is non-negative up to rounding; a category total that rounds below zero is
clamped to zero and the amount stays in the bound (the tests check it is nothing). Steady stretches are
summed in closed form: within one the stage times are constant (G) or affine in the iteration index (A),
and ``sum_j max(g, a + b j)`` is exact. With dp replicas every figure is the mean over replicas, so the
account adds up to the makespan.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, NamedTuple, Sequence

import numpy as np

from l3sim.serving.recorder import SEGMENT_COLUMNS, Recorder

LOSS_CATEGORIES = (
    "preemption_recompute",
    "prefill",
    "host_link",
    "placement_imbalance",
    "fixed_per_call",
    "attention_dram",
    "gpu_efficiency",
    "drain",
    "pipeline_bubble",
    "idle",
)


class StageTerms(NamedTuple):
    """One sub-batch of one plan as the account needs it (a system reports two in ``IterationCost.account``).

    ``gpu_s``: its GPU stage; ``gpu_no_recompute_s``: the same without recomputed prefill tokens;
    ``prefill_nominal_s``: what its (not recomputed) prefill chunks add to that at the nominal roofline
    (0 without prefill); ``decodes`` and ``context_tokens`` (iteration 0);
    ``busiest_s`` / ``busiest_increment_s``: its decode attention (busiest slot) at iteration 0 and its
    growth per steady iteration; ``comm_s`` / ``comm_no_recompute_s``: its attention stage's communication.
    """

    gpu_s: float
    gpu_no_recompute_s: float
    prefill_nominal_s: float
    decodes: float
    context_tokens: float
    busiest_s: float
    busiest_increment_s: float
    comm_s: float
    comm_no_recompute_s: float


def account_terms(pipelined: bool, first: StageTerms, second: StageTerms) -> tuple[float, ...]:
    """The flat tuple a system puts in ``IterationCost.account``: pipelined flag, then both sub-batches."""
    return (float(pipelined), *first, *second)


@dataclass(frozen=True)
class AccountBasis:
    """What a system contributes to its account beyond the per-plan terms.

    ``slots``, ``fixed_s`` and ``per_token_s``: the attention device's cost (a slot's step takes
    ``fixed_s x requests + per_token_s x context``); ``nominal_per_token_s``: seconds per context token of
    the whole device at its nominal bandwidth; ``attention_on_gpu``: the GPU is the attention device
    (GPU-only: one unit with no fixed cost, the three slot figures unused). ``fc_s(n)``: the dense layers over n decodes at the run's speed (a scalar function);
    ``nominal_fc_s(tokens)``: the same at the nominal roofline, elementwise over (fractional) token counts.
    """

    slots: int
    fixed_s: float
    per_token_s: float
    nominal_per_token_s: float
    attention_on_gpu: bool
    fc_s: Callable[[int], float]
    nominal_fc_s: Callable[[np.ndarray], np.ndarray]


@dataclass
class RunAccount:
    """The bound, the losses (LOSS_CATEGORIES order) and the time-averaged batches of a run."""

    bound_s: float
    losses_s: dict[str, float]
    batch_mean: float
    capacity_batch_mean: float


_TERMS = len(StageTerms._fields)
_COL = {name: i for i, name in enumerate(SEGMENT_COLUMNS)}


def _sum_max(g: np.ndarray, a: np.ndarray, b: np.ndarray, k: np.ndarray) -> np.ndarray:
    """``sum_{j<k} max(g, a + b j)`` elementwise, for slopes ``b >= 0`` (exact: split where a + b j passes g)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        crossing = np.where(b > 0, np.ceil((g - a) / np.where(b > 0, b, 1.0)), np.where(a > g, 0.0, k))
    j0 = np.clip(crossing, 0.0, k)
    above = k - j0
    return g * j0 + above * a + b * (j0 + k - 1.0) * above / 2.0


def _per_unique(function: Callable[[int], float], tokens: np.ndarray) -> np.ndarray:
    """``function`` of every element (0 where the element is 0), calling it once per distinct value."""
    values, inverse = np.unique(tokens, return_inverse=True)
    out = np.array([function(int(v)) if v > 0 else 0.0 for v in values.tolist()])
    return out[inverse].reshape(tokens.shape)


def _drain_scale(seg: np.ndarray, waiting: np.ndarray, capacity_tokens: int) -> tuple[np.ndarray, np.ndarray]:
    """Per segment: the batch capacity allows and the drain scale s (allowed / achieved; 1 if not a drain).

    Allowed batch: the achieved batch x capacity tokens / tokens stored after the segment's first
    iteration (as many requests of the current mean size as fit), capped at the largest batch the
    replica reached (the workload's and the token budget's limit). A segment drains when nothing waits
    and its batch is below that.
    """
    batch = seg[:, _COL["batch_size"]]
    stored = seg[:, _COL["kv_tokens_end"]] - seg[:, _COL["decode_requests"]] * (seg[:, _COL["iterations"]] - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        allowed = np.where(stored > 0, batch * capacity_tokens / stored, batch)
    allowed = np.maximum(np.minimum(allowed, batch.max(initial=0.0)), batch)
    scale = np.where(waiting == 0, allowed / np.maximum(batch, 1.0), 1.0)
    return allowed, scale


def iteration_totals(seg: np.ndarray, terms: np.ndarray, basis: AccountBasis, capacity_tokens: int) -> np.ndarray:
    """Per segment (rows) the summed iteration time of the run and of each configuration of the module
    docstring (columns: recorded, then after removing each iteration category in order: the last is the
    bound), and in a last column the batch capacity allows."""
    k = seg[:, _COL["iterations"]]
    recorded = k * seg[:, _COL["first_latency_s"]] + seg[:, _COL["latency_increment_s"]] * k * (k - 1) / 2
    waiting, pipelined = terms[:, 0], terms[:, 1] > 0
    sb = [StageTerms(*terms[:, 2 + i * _TERMS : 2 + (i + 1) * _TERMS].T) for i in range(2)]
    allowed, scale = _drain_scale(seg, waiting, capacity_tokens)
    gpu, att = [], []  # per sub-batch: the G and (a, b) of A after each step
    for t in sb:
        fc = _per_unique(basis.fc_s, t.decodes)
        fc_nominal = np.where(t.decodes > 0, basis.nominal_fc_s(t.decodes), 0.0)
        prefill_nominal = t.prefill_nominal_s
        drained = np.where(t.decodes > 0, basis.nominal_fc_s(t.decodes * scale) / scale, 0.0)
        if basis.attention_on_gpu:  # one unit, no fixed cost: its decode attention is balanced already
            mean_a, mean_b, no_fixed = t.busiest_s, t.busiest_increment_s, t.busiest_s
        else:
            mean_a = (basis.fixed_s * t.decodes + basis.per_token_s * t.context_tokens) / basis.slots
            mean_b = basis.per_token_s * t.decodes / basis.slots
            no_fixed = basis.per_token_s * t.context_tokens / basis.slots
        nominal_a, nominal_b = basis.nominal_per_token_s * t.context_tokens, basis.nominal_per_token_s * t.decodes
        gpu.append([t.gpu_s, t.gpu_no_recompute_s, fc + prefill_nominal, fc_nominal + prefill_nominal,
                    drained + prefill_nominal])
        att.append([
            (t.busiest_s + t.comm_s, t.busiest_increment_s),
            (t.busiest_s + t.comm_no_recompute_s, t.busiest_increment_s),
            (t.busiest_s, t.busiest_increment_s),
            (mean_a, mean_b),
            (no_fixed, mean_b),
            (nominal_a, nominal_b),
        ])
    # (G step, A step) of each configuration, in the order of LOSS_CATEGORIES up to drain
    steps = [(0, 0), (1, 1), (2, 1), (2, 2), (2, 3), (2, 4), (2, 5), (3, 5), (4, 5)]

    def interleaved(g: int, a: int) -> np.ndarray:
        (a0, b0), (a1, b1) = att[0][a], att[1][a]
        return _sum_max(gpu[0][g], a1, b1, k) + _sum_max(gpu[1][g], a0, b0, k)

    columns = [recorded] + [interleaved(g, a) for g, a in steps[1:]]
    (a0, b0), (a1, b1) = att[0][5], att[1][5]
    pooled = _sum_max(gpu[0][4] + gpu[1][4], a0 + a1, b0 + b1, k)
    columns.append(np.where(pipelined, pooled, columns[-1]))
    columns.append(allowed)
    return np.column_stack(columns)


def explain_run(
    recorders: Sequence[Recorder], basis: AccountBasis | None, makespan_s: float, capacity_tokens: int
) -> RunAccount | None:
    """The account of a run from its replicas' recordings; None if the system reports no terms."""
    if basis is None or not math.isfinite(makespan_s) or any(len(r.account) != len(r.segments) for r in recorders):
        return None
    totals = np.zeros(len(LOSS_CATEGORIES))
    weights = np.zeros(3)  # time-weighted batch, allowed batch, iterating time
    for rec in recorders:
        seg = rec.to_rows()
        if not len(seg):  # a replica with no requests idles through the run
            totals[LOSS_CATEGORIES.index("idle")] += makespan_s
            continue
        table = iteration_totals(seg, np.array(rec.account, dtype=np.float64), basis, capacity_tokens)
        steps = table[:, :-1].sum(axis=0)
        replica = np.append(-np.diff(steps), makespan_s - steps[0])  # the iteration categories, then idle
        if basis.attention_on_gpu:  # the GPU's own decode-attention rate gap is its efficiency
            gpu_efficiency, attention_dram = (LOSS_CATEGORIES.index(c) for c in ("gpu_efficiency", "attention_dram"))
            replica[gpu_efficiency] += replica[attention_dram]
            replica[attention_dram] = 0.0
        totals += replica
        duration = seg[:, _COL["end_s"]] - seg[:, _COL["start_s"]]
        weights += [float(duration @ seg[:, _COL["batch_size"]]), float(duration @ table[:, -1]), float(duration.sum())]
    totals /= len(recorders)
    losses = np.maximum(totals, 0.0)  # a total that rounds below zero stays in the bound
    return RunAccount(
        bound_s=float(makespan_s - losses.sum()),
        losses_s=dict(zip(LOSS_CATEGORIES, losses.tolist())),
        batch_mean=weights[0] / weights[2] if weights[2] else math.nan,
        capacity_batch_mean=weights[1] / weights[2] if weights[2] else math.nan,
    )
