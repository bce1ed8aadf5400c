"""What one iteration does (the scheduler's plan) and what it costs (the system's answer).

A scheduler decides *which* requests run; a system decides *how long* that
takes and on which resources. Both talk through these small records, so a new
scheduler or system plugs in without touching the engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

EMPTY_IDS = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class IterationPlan:
    """One iteration's batch, as chosen by a scheduler.

    ``decode_ids`` each produce one token; ``prefill_ids`` each process
    ``prefill_chunk_tokens`` prompt tokens on top of ``prefill_done_tokens``
    already processed. ``preempt_ids`` are evicted (by recompute) and
    ``admit_ids`` admitted *before* the iteration runs. ``sub_batches`` splits
    the decodes for interleaving systems (two index arrays into ``decode_ids``;
    empty: one batch) and ``prefill_sub_batches`` the prefills (two index
    arrays into ``prefill_ids``; empty: every prefill in sub-batch 0). A system
    that interleaves runs sub-batch 0's GPU stage beside sub-batch 1's
    attention stage, then the reverse (docs/systems.md). ``steady`` says the scheduler would
    return the same decode-only plan again next iteration (less its pre-emptions,
    which the engine applies first) as long as no request finishes, no KV capacity
    boundary is crossed and nothing arrives, which lets the engine advance many
    iterations in closed form.
    """

    decode_ids: np.ndarray = field(default_factory=lambda: EMPTY_IDS)
    prefill_ids: np.ndarray = field(default_factory=lambda: EMPTY_IDS)
    prefill_chunk_tokens: np.ndarray = field(default_factory=lambda: EMPTY_IDS)
    prefill_done_tokens: np.ndarray = field(default_factory=lambda: EMPTY_IDS)
    preempt_ids: tuple[int, ...] = ()
    admit_ids: tuple[int, ...] = ()
    sub_batches: tuple[np.ndarray, ...] = ()
    prefill_sub_batches: tuple[np.ndarray, ...] = ()
    steady: bool = False

    @property
    def num_tokens(self) -> int:
        """Tokens the dense layers process: one per decode plus every prefill chunk token."""
        return int(self.decode_ids.size + self.prefill_chunk_tokens.sum())

    @property
    def batch_size(self) -> int:
        """Requests in the iteration (decodes and prefills)."""
        return int(self.decode_ids.size + self.prefill_ids.size)

    @property
    def is_empty(self) -> bool:
        return self.decode_ids.size == 0 and self.prefill_ids.size == 0


class Phase(NamedTuple):
    """One interval of an iteration on a timeline track, offsets from the iteration's start (seconds).

    A named tuple rather than a frozen dataclass: systems build a dozen per iteration for the timeline,
    and a tuple is about half the cost to construct.
    """

    track: str
    start_s: float
    duration_s: float
    label: str


@dataclass(frozen=True)
class IterationCost:
    """Duration of one iteration, the busy time of each named resource (gpu, attention device, link),
    totals of the run's aggregates (``counts``: fc_flops, decode_kv_bytes_read, pcie_bytes, ...),
    for the timeline, the intervals that make up the iteration (``phases``) and, from systems that run
    sub-batches, each sub-batch's stage times (``gpu_stage_s``, ``attention_stage_s``: the attention
    device's stage includes its communication), which a scheduler that predicts them learns from, and
    the terms of the run's bound-and-loss account (``account``, ``serving/account.py``; empty: the system
    reports none)."""

    duration_s: float
    busy_s: dict[str, float]
    counts: dict[str, float] = field(default_factory=dict)
    phases: tuple[Phase, ...] = ()
    gpu_stage_s: tuple[float, ...] = ()
    attention_stage_s: tuple[float, ...] = ()
    account: tuple[float, ...] = ()


@dataclass(frozen=True)
class SegmentCost:
    """Cost of a run of steady decode iterations: iteration j costs ``first + j * increment``.

    Valid for at most ``valid_iterations`` iterations (a system whose cost is
    only piecewise affine, e.g. a max of two sub-batches, cuts the run at the
    kink; the engine then asks again).
    """

    first: IterationCost
    increment: IterationCost
    valid_iterations: int
