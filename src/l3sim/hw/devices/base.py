"""The record every attention device reduces to (see ``l3sim.hw.devices``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AttentionDevice:
    """Decode-attention cost and KV capacity of one replica's attention device.

    ``slots`` units work in parallel; one decode step (all layers) of the
    requests on a slot takes ``fixed_s x requests + per_token_s x summed
    context tokens``; the batch's step ends with the busiest slot.
    ``ranksets`` > 1 marks a DIMM device whose ranksets can overlap transfers
    with compute (L3's rankset-granular overlap); ``ddr_bw_bytes_per_s`` is the
    host-side bandwidth transfers occupy (0: transfers do not touch the device's
    memory buses, e.g. HBM-PIM inside the GPU package). ``nominal_bw_bytes_per_s`` is the bandwidth the
    device's hardware could read KV at with no DRAM-level overheads and no utilisation cap (bank-PIM: every
    bank PU streaming one column per tCCD_L; rank-PIM: every rank's bus; a bandwidth device: its peak
    before ``bw_util``), the bound of the run's account; ``peak_bw_bytes_per_s`` is the rate the cost
    model achieves.
    """

    name: str
    kv_capacity_bytes: float
    slots: int
    fixed_s: float
    per_token_s: float
    ranksets: int = 1
    ddr_bw_bytes_per_s: float = 0.0
    over_pcie: bool = True
    peak_bw_bytes_per_s: float = 0.0
    nominal_bw_bytes_per_s: float = 0.0
