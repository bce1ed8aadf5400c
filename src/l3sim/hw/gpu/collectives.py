"""Tensor-parallel collectives over NVLink: the ring model and measured NCCL timings.

A ring all-reduce of S bytes over n GPUs moves 2(n-1)/n x S bytes through
each GPU's link in each direction (reduce-scatter then all-gather; NCCL's
"bus bandwidth" convention), so its time is

    latency + 2(n-1)/n x S / (NVLink bandwidth per direction x bus efficiency)

with ``latency`` the fixed cost of one NCCL call. Both knobs are platform
parameters (``allreduce_latency_s``, ``allreduce_bus_efficiency``), fitted to
the Vidur DGX-A100 all-reduce profile (docs/gpu-model.md); GPUCostSpec may
override them. ``MeasuredAllReduce`` interpolates a measured profile instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from l3sim.errors import ConfigError
from l3sim.spec.platform import PlatformSpec
from l3sim.spec.run import GPUCostSpec

if TYPE_CHECKING:
    import pandas as pd  # the tables come from profile files (l3sim.hw.profiles); annotations only


def all_reduce_link(platform: PlatformSpec, cost: GPUCostSpec) -> tuple[float, float]:
    """(achieved bandwidth per direction, latency) of the ring all-reduce: GPUCostSpec overrides, else the platform's."""
    efficiency = cost.nvlink_util if cost.nvlink_util is not None else platform.allreduce_bus_efficiency
    latency = cost.allreduce_latency_s if cost.allreduce_latency_s is not None else platform.allreduce_latency_s
    return platform.gpu.nvlink_bw_bytes_per_s / 2.0 * efficiency, latency


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


def within_node(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of an all-reduce profile whose workers all sit in one node (the NVLink ring)."""
    return table[table["num_workers"] == table["devices_per_node"]]


class MeasuredAllReduce:
    """All-reduce time per call at one TP degree, piecewise linear in the message size between measured medians.

    Repeated sizes are averaged. Below the smallest measured size the
    smallest size's time holds (the latency floor); above the largest, the
    time grows with the ring model's slope from the largest point.
    """

    def __init__(self, table: pd.DataFrame, tp: int, link_bw_bytes_per_s: float, source: str) -> None:
        rows = within_node(table)
        rows = rows[rows["num_workers"] == tp]
        if rows.empty:
            measured = sorted(set(within_node(table)["num_workers"]))
            raise ConfigError(f"{source}: no within-node all-reduce measurements at tp={tp}; measured: {measured}")
        medians = rows.groupby("size_bytes")["median_s"].mean()
        self.size_bytes = medians.index.to_numpy(dtype=float)
        self.time_s = medians.to_numpy(dtype=float)
        self._slope = 2.0 * (tp - 1) / tp / link_bw_bytes_per_s

    def per_call_s(self, nbytes):
        """Elementwise time of one all-reduce of ``nbytes`` per GPU; 0 for 0 bytes."""
        size = np.asarray(nbytes, dtype=float)
        inside = np.interp(size, self.size_bytes, self.time_s)
        beyond = self.time_s[-1] + (size - self.size_bytes[-1]) * self._slope
        return np.where(size > 0, np.where(size > self.size_bytes[-1], beyond, inside), 0.0)
