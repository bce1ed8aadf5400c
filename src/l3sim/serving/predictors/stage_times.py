"""What one sub-batch's GPU stage and PIM stage cost, from the cost models: the predictors' training target.

The L3 paper trains its predictors on runtime profiles; l3sim's "runtime" is
its cost models, so the targets come from them:

- GPU stage (the paper's t_p + t_batch): causal prefill attention of each
  prefill chunk (``GPUCostModel.prefill_attention_time_s``) plus the dense
  layers over the prefill tokens and the decodes it carries
  (``GPUCostModel.fc_time_s``; one logit row per decode and per prefill, an
  upper bound: a prefill's last chunk is the one that produces a token).
- PIM stage (the paper's t_d + t_comm): decode attention at bank-level PIM,
  each request's layers interleaved over the ranksets and placed whole on one
  rank of each (``hw.pim.placement``), requests spread over the ranks of a
  rankset by longest-first greedy balance; every rank works in parallel, the
  stage ends with the busiest rank (t_d, the paper's "slowest rank"). The
  transfers (t_comm): q, k, v in and the output back per decode and layer,
  and the other sub-batch's prefill KV, over the tp GPUs' host links.

A system that times sub-batches itself can be used instead: anything with
``gpu_stage_s`` and ``pim_stage_s`` of these signatures (``StageTimes``).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from l3sim.hw.gpu import GPUCostModel
from l3sim.hw.pim import PIMSystem, attention_cost_coefficients, max_layers_per_rank
from l3sim.spec.run import RunSpec


class StageTimes(Protocol):
    """Seconds of a hypothetical sub-batch's GPU stage and PIM stage."""

    def gpu_stage_s(self, chunk_tokens: np.ndarray, done_tokens: np.ndarray, num_decodes: int) -> float: ...

    def pim_stage_s(self, decode_context_tokens: np.ndarray, other_prefill_tokens: int) -> float: ...


def balanced_rank_loads(costs: np.ndarray, ranks: int) -> np.ndarray:
    """Loads of ``ranks`` ranks after placing ``costs`` longest first, each on the least loaded rank (LPT)."""
    loads = np.zeros(ranks)
    for cost in np.sort(np.asarray(costs, dtype=np.float64))[::-1]:
        loads[np.argmin(loads)] += cost
    return loads


class CostModelStageTimes:
    """StageTimes from a RunSpec's GPU cost model and its host memory's PIM (see the module docstring)."""

    def __init__(self, spec: RunSpec) -> None:
        model = spec.model
        self.gpu = GPUCostModel(spec)
        self.pim = PIMSystem(spec.memory, spec.pim)
        self.fixed_s, self.per_token_s = attention_cost_coefficients(
            model.num_heads, model.gqa_group, None, self.pim, head_dim=model.head_dim)
        self.layers_per_rank = max_layers_per_rank(model.num_layers, self.pim)
        self.ranks_per_rankset = self.pim.geometry.channels
        tp = spec.deployment.tp
        per_decode_elements = (2 * model.q_size + 2 * model.kv_size) * model.num_layers  # q, k, v in; output out
        self.decode_bytes = per_decode_elements * model.dtype_bytes
        self.kv_bytes_per_token = model.kv_bytes_per_token
        self.link_bw_bytes_per_s = tp * spec.platform.host_link.bw_bytes_per_s

    def gpu_stage_s(self, chunk_tokens, done_tokens, num_decodes: int) -> float:
        chunks = np.asarray(chunk_tokens, dtype=np.float64)
        attention = float(np.sum(self.gpu.prefill_attention_time_s(chunks, done_tokens))) if chunks.size else 0.0
        tokens = float(chunks.sum()) + num_decodes
        if tokens == 0:
            return attention
        return attention + float(self.gpu.fc_time_s(tokens, num_decodes + chunks.size))

    def pim_stage_s(self, decode_context_tokens, other_prefill_tokens: int) -> float:
        contexts = np.asarray(decode_context_tokens, dtype=np.float64)
        per_layer = self.fixed_s + self.per_token_s * contexts
        attention = self.layers_per_rank * float(balanced_rank_loads(per_layer, self.ranks_per_rankset).max())
        moved = contexts.size * self.decode_bytes + other_prefill_tokens * self.kv_bytes_per_token
        return attention + moved / self.link_bw_bytes_per_s
