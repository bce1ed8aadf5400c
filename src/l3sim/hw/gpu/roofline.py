"""The roofline of one GPU with utilisation caps (the AttAcc simulator's model, used by the L3 paper).

An operator takes ``max(FLOPs / (peak x compute_util), bytes / (HBM bw x
mem_util))``: whichever of compute and memory traffic takes longer at the
best achievable rate. The caps (0.8 and 0.85 by default) are the paper's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from l3sim.hw.gpu.operators import Operator
from l3sim.spec.platform import GPUSpec
from l3sim.spec.run import GPUCostSpec


@dataclass(frozen=True)
class Roofline:
    """Achievable compute rate (FLOP/s) and memory rate (bytes/s) of one GPU."""

    flops_per_s: float
    bytes_per_s: float

    @classmethod
    def of(cls, gpu: GPUSpec, cost: GPUCostSpec) -> "Roofline":
        return cls(gpu.peak_flops * cost.compute_util, gpu.hbm_bw_bytes_per_s * cost.mem_util)

    def time_s(self, flops, nbytes):
        """Elementwise roofline time of work with ``flops`` FLOPs and ``nbytes`` bytes of traffic."""
        return np.maximum(np.asarray(flops, dtype=float) / self.flops_per_s, np.asarray(nbytes, dtype=float) / self.bytes_per_s)


class OperatorRoofline:
    """Roofline times of a fixed list of operators, vectorised over token counts.

    The per-operator coefficients are stacked once, so a call costs a few
    numpy operations on an ``(..., num_operators)`` array.
    """

    def __init__(self, operators: Sequence[Operator], roofline: Roofline) -> None:
        self.operators = tuple(operators)
        self.names = tuple(op.name for op in self.operators)
        self.groups = tuple(dict.fromkeys(op.group for op in self.operators))
        self._group_matrix = np.array([[float(op.group == g) for g in self.groups] for op in self.operators])
        self._compute_s_per_token = np.array([op.flops_per_token for op in self.operators]) / roofline.flops_per_s
        self._memory_s_per_token = np.array([op.bytes_per_token for op in self.operators]) / roofline.bytes_per_s
        self._memory_fixed_s = np.array([op.fixed_bytes for op in self.operators]) / roofline.bytes_per_s

    def times_s(self, num_tokens) -> np.ndarray:
        """Shape ``num_tokens.shape + (num_operators,)``; zero where ``num_tokens`` is 0 (the kernel is not run)."""
        n = np.asarray(num_tokens, dtype=float)[..., None]
        t = np.maximum(n * self._compute_s_per_token, self._memory_fixed_s + n * self._memory_s_per_token)
        return np.where(n > 0, t, 0.0)

    def group_times_s(self, num_tokens) -> np.ndarray:
        """Operator times summed per group (``self.groups`` order): shape ``num_tokens.shape + (num_groups,)``."""
        return self.times_s(num_tokens) @ self._group_matrix
