"""Attention devices: where decode attention runs in each system, with its KV capacity and its cost.

Every device is the same small record, :class:`AttentionDevice`: decode
attention of a batch is spread over ``slots`` independent units that work in
parallel (1 for a pooled bandwidth device; every rank of the replica's
DIMMs for DIMM-PIM), a request lives on one slot, and a slot's time for one
decode step of all its requests, all layers, is
``fixed_s x requests + per_token_s x their summed contexts``. The step ends
with the busiest slot. See docs/systems.md for each device's numbers.
"""

from l3sim.hw.devices.base import AttentionDevice
from l3sim.hw.devices.builders import dimm_pim, gpu_hbm_pim, hbm_pim_ext, host_cpu

__all__ = ["AttentionDevice", "dimm_pim", "gpu_hbm_pim", "hbm_pim_ext", "host_cpu"]
