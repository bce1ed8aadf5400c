"""GPUCostModel: the time of one iteration's GPU work for ONE model replica (tp GPUs), all layers.

FC work per iteration = num_layers x (QKV projection + output projection +
FFN + other: norms, rotary embedding, residual add) over all the iteration's
tokens, + 2 TP all-reduces per layer of num_tokens x hidden x dtype bytes
when tp > 1, + the LM head over the rows that need logits. The per-operator
times come from the cost source ``gpu.cost_source`` (``sources.py``:
calibrated, roofline or profile). Data parallelism does not change a
replica's times: dp replicas run side by side on their own GPUs.
"""

from __future__ import annotations

import numpy as np

from l3sim.errors import ConfigError
from l3sim.hw.gpu.memory import plan_memory
from l3sim.hw.gpu.operators import check_tensor_parallel
from l3sim.hw.gpu.sources import LAYER_KEYS, SOURCE_BUILDERS
from l3sim.spec.run import RunSpec

BREAKDOWN_KEYS = (*LAYER_KEYS, "lm_head", "all_reduce")
ALL_REDUCES_PER_LAYER = 2  # after the output projection and after the FFN (Megatron-LM)


class GPUCostModel:
    """GPU times of one replica; every method is elementwise over numpy arrays (scalars allowed)."""

    def __init__(self, spec: RunSpec) -> None:
        model, gpu, cost = spec.model, spec.platform.gpu, spec.gpu
        tp = spec.deployment.tp
        if spec.deployment.num_gpus > spec.platform.num_gpus:
            raise ConfigError(
                f"deployment tp={tp} x dp={spec.deployment.dp} needs {spec.deployment.num_gpus} GPUs; "
                f"platform {spec.platform.name!r} has {spec.platform.num_gpus}: choose tp and dp with tp x dp <= "
                f"{spec.platform.num_gpus} (e.g. --set tp={tp} --set dp={max(spec.platform.num_gpus // tp, 1)})"
            )
        if tp > 1 and gpu.nvlink_bw_bytes_per_s <= 0:
            raise ConfigError(f"tp={tp} needs NVLink: gpu {gpu.name!r} has nvlink_bw_bytes_per_s = 0")
        check_tensor_parallel(model, tp)
        builder = SOURCE_BUILDERS.get(cost.cost_source)
        if builder is None:
            raise ConfigError(f"unknown gpu.cost_source {cost.cost_source!r}; known: {', '.join(SOURCE_BUILDERS)}")
        self.tp = tp
        self.num_layers = model.num_layers
        self.cost_source = cost.cost_source
        self._source = builder(spec)
        self._all_reduce_bytes_per_token = model.hidden_size * model.dtype_bytes
        memory = plan_memory(model, gpu, tp, cost.activation_reserve_fraction)
        self.weight_bytes_per_gpu = memory.weight_bytes_per_gpu
        self.reserve_bytes_per_gpu = memory.reserve_bytes_per_gpu
        self.kv_capacity_bytes = memory.kv_capacity_bytes
        self.fits = memory.fits
        self.does_not_fit_reason = memory.does_not_fit_reason

    # ---- FC ----------------------------------------------------------------
    def _all_reduce_s(self, num_tokens):
        if self.tp <= 1:
            return np.zeros(np.shape(num_tokens))
        per_call = self._source.all_reduce_time_s(np.asarray(num_tokens, dtype=float) * self._all_reduce_bytes_per_token)
        return per_call * (ALL_REDUCES_PER_LAYER * self.num_layers)

    def fc_breakdown_s(self, num_tokens, num_logits) -> dict[str, np.ndarray | float]:
        """Per operator group (BREAKDOWN_KEYS): time of one iteration, all layers; broadcasts its inputs."""
        tokens, logits = np.broadcast_arrays(np.asarray(num_tokens, dtype=float), np.asarray(num_logits, dtype=float))
        layers = self._source.layer_times_s(tokens) * self.num_layers
        parts = {group: layers[..., i] for i, group in enumerate(LAYER_KEYS)}
        parts["lm_head"] = self._source.lm_head_time_s(logits)
        parts["all_reduce"] = self._all_reduce_s(tokens)
        if tokens.ndim == 0:
            return {key: float(value) for key, value in parts.items()}
        return parts

    def _dense_s(self, tokens: np.ndarray) -> np.ndarray:
        """Every layer's operators and the TP all-reduces over ``tokens`` (a float array)."""
        return self._source.layer_times_s(tokens).sum(axis=-1) * self.num_layers + self._all_reduce_s(tokens)

    def fc_time_s(self, num_tokens, num_logits):
        """All layers' operators (+ TP all-reduces) over ``num_tokens``, LM head over ``num_logits`` rows."""
        tokens, logits = np.broadcast_arrays(np.asarray(num_tokens, dtype=float), np.asarray(num_logits, dtype=float))
        total = self._dense_s(tokens) + self._source.lm_head_time_s(logits)
        return float(total) if total.ndim == 0 else total

    def fc_dense_time_s(self, num_tokens: int) -> float:
        """``fc_time_s`` of one token count less its LM head: every layer's operators and the TP all-reduces.

        ``fc_time_s(t, l) == fc_dense_time_s(t) + fc_lm_head_time_s(l)`` bit for bit (both sum the same two
        parts), so a memo may keep the two parts apart (``serving/systems/fc_memo.py``).
        """
        return float(self._dense_s(np.asarray(num_tokens, dtype=float)))

    def fc_lm_head_time_s(self, num_logits: int) -> float:
        """The LM head over ``num_logits`` rows: the rest of ``fc_time_s`` (see ``fc_dense_time_s``)."""
        return float(self._source.lm_head_time_s(np.asarray(num_logits, dtype=float)))

    # ---- attention -----------------------------------------------------------
    def prefill_attention_time_s(self, chunk_tokens, done_tokens):
        """Causal attention of a prefill chunk of ``chunk_tokens`` after ``done_tokens`` cached (elementwise)."""
        return _float_if_scalar(self._source.prefill_attention_time_s(chunk_tokens, done_tokens))

    def decode_attention_time_s(self, total_context_tokens, num_requests=None):
        """Decode attention of a batch whose contexts sum to ``total_context_tokens`` (all layers).

        Without ``num_requests`` the time is affine in the total (callers may pass sums); with it the
        calibrated source also charges the SMs a small batch leaves idle.
        """
        return _float_if_scalar(self._source.decode_attention_time_s(total_context_tokens, num_requests))


def _float_if_scalar(result):
    """A 0-d result as a Python float, an array as it is (the methods are elementwise)."""
    return result if isinstance(result, np.ndarray) and result.ndim else float(result)
