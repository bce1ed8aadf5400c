"""Tensor-parallel collectives over NVLink.

A ring all-reduce of S bytes over n GPUs moves 2(n-1)/n x S bytes through
each GPU's link in each direction (reduce-scatter then all-gather; NCCL's
"bus bandwidth" convention), so its time is

    latency + 2(n-1)/n x S / (NVLink bandwidth per direction x nvlink_util)

with ``latency`` the fixed cost of one NCCL call. Both knobs live in
GPUCostSpec, fitted to the Vidur DGX-A100 all-reduce profile (docs/gpu-model.md).
"""

from __future__ import annotations

import numpy as np


def ring_all_reduce_time_s(nbytes, num_gpus: int, link_bw_bytes_per_s: float, latency_s: float):
    """Elementwise time of an all-reduce of ``nbytes`` per GPU; 0 for one GPU or 0 bytes.

    ``link_bw_bytes_per_s`` is the achieved bandwidth per direction per GPU.
    """
    size = np.asarray(nbytes, dtype=float)
    if num_gpus <= 1:
        return np.zeros_like(size)
    if link_bw_bytes_per_s <= 0:
        raise ValueError("ring all-reduce over more than one GPU needs a positive link bandwidth")
    wire_bytes = 2.0 * (num_gpus - 1) / num_gpus * size
    return np.where(size > 0, latency_s + wire_bytes / link_bw_bytes_per_s, 0.0)
