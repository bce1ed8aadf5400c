"""Capacity-first sub-batching, the L3 paper's scheduler ablation: fill the attention device first.

Every waiting request whose KV reservation fits (watermark kept free) is admitted and prefilled at
once, with no per-iteration token budget, so the batch grows to the device's capacity as fast as
possible; the batch is then split into two sub-batches like ``subbatch``. It maximises the batch (hence
throughput) at the price of long prefill iterations that every running request waits through (TBT).
"""

from __future__ import annotations

import sys

from l3sim.serving.schedulers.subbatch import SubBatchScheduler
from l3sim.spec.run import ServingSpec


class CapacityFirstScheduler(SubBatchScheduler):
    """Sub-batching whose only admission limit is KV capacity (see the module docstring)."""

    name = "capacity-first"

    def __init__(self, serving: ServingSpec, system=None) -> None:
        super().__init__(serving, system)
        self.max_batch_tokens = sys.maxsize // 4  # no token budget: capacity is the only limit
