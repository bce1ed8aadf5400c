"""What the engine records while it runs one replica: sample series, time integrals and a segment log."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from l3sim.serving.series import SeriesSamples

SEGMENT_COLUMNS = (
    "replica",
    "start_s",
    "end_s",
    "iterations",
    "batch_size",
    "decode_requests",
    "prefill_tokens",
    "first_latency_s",
    "latency_increment_s",
    "kv_tokens_end",
    "kv_blocks_end",
)


@dataclass
class Recorder:
    """Accumulates one replica's metrics; a segment is k >= 1 consecutive iterations of one plan.

    ``iterating_s`` is the time the replica spends in iterations (not idle).

    ``kv_token_seconds`` integrates stored KV tokens over time (tokens stored
    at the end of an iteration, held for its whole duration).
    """

    replica: int
    resources: tuple[str, ...]
    tbt_s: SeriesSamples = field(default_factory=SeriesSamples)
    tbt_measured_s: SeriesSamples = field(default_factory=SeriesSamples)  # gaps of RequestTable.measured requests
    iteration_s: SeriesSamples = field(default_factory=SeriesSamples)
    iterations: int = 0
    iterating_s: float = 0.0
    batch_request_iterations: int = 0
    tokens_produced: int = 0
    preemptions: int = 0
    kv_token_seconds: float = 0.0
    kv_peak_blocks: int = 0
    steady_end_s: float = math.nan  # end of the last iteration that began with a request waiting or to come
    steady_tokens: int = 0  # output tokens produced up to steady_end_s
    busy_s: dict[str, float] = field(default_factory=dict)
    counts: dict[str, float] = field(default_factory=dict)
    segments: list[tuple] = field(default_factory=list)
    account: list[tuple] = field(default_factory=list)  # per segment: waiting requests, then the cost's terms
    timeline: list[tuple] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.busy_s = {name: 0.0 for name in self.resources}

    def add_busy(self, first: dict[str, float], increment: dict[str, float], k: int) -> None:
        """Busy time of each resource over k iterations whose busy time is ``first + j * increment``."""
        _accumulate(self.busy_s, first, increment, k)

    def add_counts(self, first: dict[str, float], increment: dict[str, float], k: int) -> None:
        """Run aggregates (FLOPs, bytes, tokens) over k iterations, each ``first + j * increment``."""
        _accumulate(self.counts, first, increment, k)

    def add_timeline(self, start_s: float, end_s: float, k: int, phases: tuple) -> None:
        """A segment for the timeline: its span, iterations and the first iteration's intervals."""
        self.timeline.append((self.replica, start_s, end_s, k, phases))

    def to_rows(self) -> np.ndarray:
        return np.array(self.segments, dtype=np.float64).reshape(-1, len(SEGMENT_COLUMNS))


def _accumulate(target: dict[str, float], first: dict[str, float], increment: dict[str, float], k: int) -> None:
    for name, value in first.items():
        target[name] = target.get(name, 0.0) + arithmetic_sum(value, increment.get(name, 0.0), k)


def arithmetic_sum(first: float, increment: float, k: int) -> float:
    """first + (first + increment) + ... over k terms."""
    return k * first + increment * k * (k - 1) / 2
