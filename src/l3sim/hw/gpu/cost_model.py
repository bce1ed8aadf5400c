"""GPUCostModel: the time of one iteration's GPU work for ONE model replica (tp GPUs), all layers.

FC work per iteration = num_layers x (QKV projection + output projection +
FFN) over all the iteration's tokens, + 2 ring all-reduces per layer of
num_tokens x hidden x dtype bytes when tp > 1, + the LM head over the rows
that need logits. Each operator's per-layer time comes from the roofline
(default) or from a measured Vidur profile (``gpu.cost_source = "profile"``;
the LM head and the all-reduces always come from the model, the profile has
neither). Data parallelism does not change a replica's times: dp replicas
run side by side on their own GPUs.
"""

from __future__ import annotations

import numpy as np

from l3sim.errors import ConfigError
from l3sim.hw.gpu.attention import GPUAttention
from l3sim.hw.gpu.collectives import ring_all_reduce_time_s
from l3sim.hw.gpu.measured import MeasuredLayerTimes
from l3sim.hw.gpu.memory import plan_memory
from l3sim.hw.gpu.operators import LAYER_GROUPS, layer_operators, lm_head_operator
from l3sim.hw.gpu.roofline import OperatorRoofline, Roofline
from l3sim.spec.run import RunSpec

BREAKDOWN_KEYS = (*LAYER_GROUPS, "lm_head", "all_reduce")
ALL_REDUCES_PER_LAYER = 2  # after the output projection and after the FFN (Megatron-LM)


def _load_measured(spec: RunSpec, tp: int, roofline: OperatorRoofline) -> MeasuredLayerTimes:
    from l3sim.hw.profiles import load_vidur_mlp_csv

    path = spec.gpu.profile_path
    if not path:
        raise ConfigError("gpu.cost_source = 'profile' needs gpu.profile_path (a Vidur *_mlp.csv)")
    return MeasuredLayerTimes(load_vidur_mlp_csv(path), spec.model, tp, roofline, source=str(path))


class GPUCostModel:
    """GPU times of one replica; every method is elementwise over numpy arrays (scalars allowed)."""

    def __init__(self, spec: RunSpec) -> None:
        model, gpu, cost = spec.model, spec.platform.gpu, spec.gpu
        tp = spec.deployment.tp
        if spec.deployment.num_gpus > spec.platform.num_gpus:
            raise ConfigError(
                f"deployment tp={tp} x dp={spec.deployment.dp} needs {spec.deployment.num_gpus} GPUs; "
                f"platform {spec.platform.name!r} has {spec.platform.num_gpus}"
            )
        if tp > 1 and gpu.nvlink_bw_bytes_per_s <= 0:
            raise ConfigError(f"tp={tp} needs NVLink: gpu {gpu.name!r} has nvlink_bw_bytes_per_s = 0")
        self.tp = tp
        self.num_layers = model.num_layers
        roofline = Roofline.of(gpu, cost)
        self._layer = OperatorRoofline(layer_operators(model, tp), roofline)
        self._lm_head = OperatorRoofline((lm_head_operator(model, tp),), roofline)
        self._measured = _load_measured(spec, tp, self._layer) if cost.cost_source == "profile" else None
        self._attention = GPUAttention(model, tp, roofline)
        self._all_reduce_bytes_per_token = model.hidden_size * model.dtype_bytes
        self._link_bw = gpu.nvlink_bw_bytes_per_s / 2.0 * cost.nvlink_util  # per direction
        self._all_reduce_latency_s = cost.allreduce_latency_s
        memory = plan_memory(model, gpu, tp, cost.activation_reserve_fraction)
        self.weight_bytes_per_gpu = memory.weight_bytes_per_gpu
        self.reserve_bytes_per_gpu = memory.reserve_bytes_per_gpu
        self.kv_capacity_bytes = memory.kv_capacity_bytes
        self.fits = memory.fits
        self.does_not_fit_reason = memory.does_not_fit_reason

    # ---- FC ----------------------------------------------------------------
    def _layer_groups_s(self, num_tokens) -> np.ndarray:
        source = self._measured if self._measured is not None else self._layer
        return source.group_times_s(num_tokens) * self.num_layers

    def _all_reduce_s(self, num_tokens):
        per_call = ring_all_reduce_time_s(
            np.asarray(num_tokens, dtype=float) * self._all_reduce_bytes_per_token,
            self.tp,
            self._link_bw,
            self._all_reduce_latency_s,
        )
        return per_call * (ALL_REDUCES_PER_LAYER * self.num_layers)

    def fc_breakdown_s(self, num_tokens, num_logits) -> dict[str, np.ndarray | float]:
        """Per operator group (BREAKDOWN_KEYS): time of one iteration, all layers; broadcasts its inputs."""
        tokens, logits = np.broadcast_arrays(np.asarray(num_tokens, dtype=float), np.asarray(num_logits, dtype=float))
        layers = self._layer_groups_s(tokens)
        parts = {group: layers[..., i] for i, group in enumerate(LAYER_GROUPS)}
        parts["lm_head"] = self._lm_head.times_s(logits)[..., 0]
        parts["all_reduce"] = self._all_reduce_s(tokens)
        if tokens.ndim == 0:
            return {key: float(value) for key, value in parts.items()}
        return parts

    def fc_time_s(self, num_tokens, num_logits):
        """QKV + out projection + FFN (+ TP all-reduces) over ``num_tokens``, LM head over ``num_logits`` rows."""
        tokens, logits = np.broadcast_arrays(np.asarray(num_tokens, dtype=float), np.asarray(num_logits, dtype=float))
        total = self._layer_groups_s(tokens).sum(axis=-1) + self._all_reduce_s(tokens)
        total = total + self._lm_head.times_s(logits)[..., 0]
        return float(total) if total.ndim == 0 else total

    # ---- attention -----------------------------------------------------------
    def prefill_attention_time_s(self, chunk_tokens, done_tokens):
        """Causal attention of a prefill chunk of ``chunk_tokens`` after ``done_tokens`` cached (elementwise)."""
        return _float_if_scalar(self._attention.prefill_time_s(chunk_tokens, done_tokens))

    def decode_attention_time_s(self, total_context_tokens):
        """KV bytes read / usable HBM bandwidth of the replica; linear in the total context."""
        return _float_if_scalar(self._attention.decode_time_s(total_context_tokens))


def _float_if_scalar(result):
    """A 0-d result as a Python float, an array as it is (the methods are elementwise)."""
    return result if isinstance(result, np.ndarray) and result.ndim else float(result)
