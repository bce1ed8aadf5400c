"""Point-to-point link model (PCIe / CXL between a GPU and the host).

A transfer of B bytes over a link costs ``latency_s + B / bw_bytes_per_s``
(LinkSpec: bandwidth per direction, fixed latency per DMA transfer); the two
directions are independent. A zero-byte transfer is no transfer and costs
nothing. Two compositions the GPU <-> DIMM-PIM traffic needs:

* several transfers issued back to back on one link each pay the latency
  (``batched_transfer_time_s``), e.g. per-request Q/K/V vectors sent as
  separate DMAs;
* one payload split evenly over several identical links working in parallel
  pays the latency once and sees their summed bandwidth
  (``striped_transfer_time_s``), e.g. a TP group's GPUs each sending their
  shard over their own PCIe x16 link (the DGX-A100 has one per GPU).

Host-side limits (the DDR buses the transfer shares with PIM compute) are
the PIM model's business, not the link's.
"""

from __future__ import annotations

import numpy as np

from l3sim.spec.platform import LinkSpec


def transfer_time_s(link: LinkSpec, nbytes):
    """Time of one transfer of ``nbytes`` (elementwise over arrays): latency + bytes / bandwidth; 0 for 0 bytes."""
    size = np.asarray(nbytes, dtype=float)
    if np.any(size < 0):
        raise ValueError("transfer size must be >= 0 bytes")
    result = np.where(size > 0, link.latency_s + size / link.bw_bytes_per_s, 0.0)
    return float(result) if result.ndim == 0 else result


def batched_transfer_time_s(link: LinkSpec, nbytes, num_transfers):
    """``num_transfers`` transfers totalling ``nbytes``, one after another on one link (each pays the latency)."""
    size = np.asarray(nbytes, dtype=float)
    count = np.asarray(num_transfers, dtype=float)
    if np.any(size < 0) or np.any(count < 0):
        raise ValueError("transfer size and count must be >= 0")
    if np.any((count == 0) & (size > 0)):
        raise ValueError("bytes to send need at least one transfer")
    result = count * link.latency_s + size / link.bw_bytes_per_s
    return float(result) if result.ndim == 0 else result


def striped_transfer_time_s(link: LinkSpec, nbytes, num_links: int):
    """One payload of ``nbytes`` split evenly over ``num_links`` identical links working in parallel."""
    if num_links < 1:
        raise ValueError("num_links must be >= 1")
    return transfer_time_s(link, np.asarray(nbytes, dtype=float) / num_links)
