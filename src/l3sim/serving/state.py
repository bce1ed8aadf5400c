"""Per-request state of one model replica, as parallel numpy arrays indexed by local request index."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from l3sim.serving.kvstore import KVStore


@dataclass
class RequestTable:
    """Static request data and the mutable progress of every request on one replica.

    ``kv_tokens`` counts tokens whose K/V are stored. A prefill chunk of c
    tokens adds c; a decode step adds one (the token fed in) and produces the
    next token. ``prefill_target`` is the prompt length, or prompt plus tokens
    generated so far after a pre-emption by recompute. ``computed_tokens`` is
    the most K/V a request ever had stored before a pre-emption dropped them:
    prefill chunk tokens below it are recomputed (the run's account of losses).
    """

    ids: np.ndarray  # global request ids, for reports
    arrival_s: np.ndarray
    prompt_tokens: np.ndarray
    output_tokens: np.ndarray
    measured: np.ndarray | None = None  # requests whose samples the SLO metrics keep (serving/slo.py); None: all
    kv_tokens: np.ndarray = field(init=False)
    reserved_blocks: np.ndarray = field(init=False)
    prefill_target: np.ndarray = field(init=False)
    prefill_done: np.ndarray = field(init=False)
    generated: np.ndarray = field(init=False)
    preemptions: np.ndarray = field(init=False)
    first_token_s: np.ndarray = field(init=False)
    last_token_s: np.ndarray = field(init=False)
    finish_s: np.ndarray = field(init=False)
    slot: np.ndarray = field(init=False)  # attention-device slot (rank) a system placed it on; -1: none
    computed_tokens: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        n = self.arrival_s.size
        self.kv_tokens = np.zeros(n, dtype=np.int64)
        self.reserved_blocks = np.zeros(n, dtype=np.int64)
        self.prefill_target = self.prompt_tokens.astype(np.int64).copy()
        self.prefill_done = np.zeros(n, dtype=np.int64)
        self.generated = np.zeros(n, dtype=np.int64)
        self.preemptions = np.zeros(n, dtype=np.int64)
        self.first_token_s = np.full(n, np.nan)
        self.last_token_s = np.full(n, np.nan)
        self.finish_s = np.full(n, np.nan)
        self.slot = np.full(n, -1, dtype=np.int64)
        self.computed_tokens = np.zeros(n, dtype=np.int64)

    def __len__(self) -> int:
        return int(self.arrival_s.size)


@dataclass
class ReplicaState:
    """What a scheduler may look at: the request table, the KV store, the queues, the clock.

    ``running`` lists admitted requests in admission order (pre-emption takes
    from its end); ``waiting`` holds arrived, not yet admitted requests (a
    pre-empted request goes back to its front).
    """

    table: RequestTable
    kv: KVStore
    running: list[int] = field(default_factory=list)
    waiting: deque[int] = field(default_factory=deque)
    now_s: float = 0.0
