"""GPU cost sources: the interface every source implements and the builders of the shipped ones.

A cost source answers five questions for one replica (tp GPUs); GPUCostModel
adds them up into iteration times:

* ``layer_times_s(num_tokens)``: per-layer time of each group in
  ``LAYER_KEYS`` (QKV projection, output projection, FFN, other = norms,
  rotary embedding, residual add), shape ``num_tokens.shape + (4,)``;
* ``lm_head_time_s(num_logits)``: the vocabulary projection, once per model;
* ``all_reduce_time_s(nbytes)``: one TP all-reduce of ``nbytes`` per GPU;
* ``prefill_attention_time_s(chunk_tokens, done_tokens)``: all layers, elementwise;
* ``decode_attention_time_s(total_context_tokens, num_requests=None)``: all
  layers; without ``num_requests`` affine in the total (callers pass sums).

``SOURCE_BUILDERS`` maps ``GPUCostSpec.cost_source`` to a function of the
RunSpec returning a source; a new source is one more entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np

from l3sim.errors import ConfigError
from l3sim.hw.gpu.attacc import AttAccGPUModel
from l3sim.hw.gpu.attention import GPUAttention, SplitKVOccupancy
from l3sim.hw.gpu.calibrated import CalibratedOperators
from l3sim.hw.gpu.collectives import MeasuredAllReduce, all_reduce_link, ring_all_reduce_time_s
from l3sim.hw.gpu.measured import MeasuredLayerTimes
from l3sim.hw.gpu.operators import LAYER_GROUPS, OTHER_GROUP, layer_operators, lm_head_operator, other_operators
from l3sim.hw.gpu.roofline import OperatorRoofline, Roofline
from l3sim.spec.run import RunSpec

LAYER_KEYS = (*LAYER_GROUPS, OTHER_GROUP)


class CostSource(Protocol):
    """What GPUCostModel needs from a cost source (see the module docstring)."""

    def layer_times_s(self, num_tokens) -> np.ndarray: ...

    def lm_head_time_s(self, num_logits) -> np.ndarray: ...

    def all_reduce_time_s(self, nbytes) -> np.ndarray: ...

    def prefill_attention_time_s(self, chunk_tokens, done_tokens) -> np.ndarray: ...

    def decode_attention_time_s(self, total_context_tokens, num_requests=None): ...


class _GroupTimes(Protocol):
    def group_times_s(self, num_tokens) -> np.ndarray: ...


@dataclass(frozen=True)
class ComposedSource:
    """A cost source assembled from parts; ``layer`` may lack the "other" group (then it costs 0)."""

    layer: _GroupTimes
    lm_head: _GroupTimes
    all_reduce: Callable[[object], np.ndarray]
    attention: GPUAttention
    layer_has_other: bool

    def layer_times_s(self, num_tokens) -> np.ndarray:
        times = self.layer.group_times_s(num_tokens)
        if self.layer_has_other:
            return times
        return np.concatenate([times, np.zeros(times.shape[:-1] + (1,))], axis=-1)

    def lm_head_time_s(self, num_logits) -> np.ndarray:
        return self.lm_head.group_times_s(num_logits)[..., 0]

    def all_reduce_time_s(self, nbytes) -> np.ndarray:
        return self.all_reduce(nbytes)

    def prefill_attention_time_s(self, chunk_tokens, done_tokens) -> np.ndarray:
        return self.attention.prefill_time_s(chunk_tokens, done_tokens)

    def decode_attention_time_s(self, total_context_tokens, num_requests=None):
        return self.attention.decode_time_s(total_context_tokens, num_requests)


def _ring(spec: RunSpec) -> Callable[[object], np.ndarray]:
    bw, latency = all_reduce_link(spec.platform, spec.gpu)
    tp = spec.deployment.tp
    return lambda nbytes: ring_all_reduce_time_s(nbytes, tp, bw, latency)


def roofline_source(spec: RunSpec) -> CostSource:
    """The capped roofline (compute_util, mem_util): FC operators and attention; no norms or adds."""
    model, tp = spec.model, spec.deployment.tp
    roofline = Roofline.of(spec.platform.gpu, spec.gpu)
    return ComposedSource(
        OperatorRoofline(layer_operators(model, tp), roofline),
        OperatorRoofline((lm_head_operator(model, tp),), roofline),
        _ring(spec),
        GPUAttention(model, tp, roofline, roofline.bytes_per_s),
        layer_has_other=False,
    )


def calibrated_source(spec: RunSpec) -> CostSource:
    """Tiles, waves, kernel overheads and the GPU preset's fitted efficiencies (calibrated.py)."""
    model, tp, gpu = spec.model, spec.deployment.tp, spec.platform.gpu
    cal = gpu.calibration
    stream = gpu.hbm_bw_bytes_per_s * cal.hbm_efficiency
    attention = GPUAttention(
        model, tp, Roofline(gpu.peak_flops * cal.flash_attention_efficiency, stream), stream,
        overlap_exponent=cal.overlap_exponent, kernel_overhead_s=cal.kernel_overhead_s,
        occupancy=SplitKVOccupancy(gpu.num_sms, model.num_kv_heads // tp, cal.split_kv_tokens),
    )
    return ComposedSource(
        CalibratedOperators(layer_operators(model, tp) + other_operators(model, tp), gpu),
        CalibratedOperators((lm_head_operator(model, tp),), gpu),
        _ring(spec),
        attention,
        layer_has_other=True,
    )


def profile_source(spec: RunSpec) -> CostSource:
    """Measured Vidur profiles: the FC layer from ``profile_path``, the all-reduce from
    ``allreduce_profile_path`` if given (else the ring model); LM head and attention from the roofline."""
    from l3sim.hw.profiles import load_vidur_all_reduce_csv, load_vidur_mlp_csv

    model, tp, cost = spec.model, spec.deployment.tp, spec.gpu
    if not cost.profile_path:
        raise ConfigError("gpu.cost_source = 'profile' needs gpu.profile_path (a Vidur *_mlp.csv)")
    roofline = Roofline.of(spec.platform.gpu, cost)
    layer_roofline = OperatorRoofline(layer_operators(model, tp), roofline)
    measured = MeasuredLayerTimes(load_vidur_mlp_csv(cost.profile_path), model, tp, layer_roofline,
                                  source=str(cost.profile_path))
    all_reduce = _ring(spec)
    if cost.allreduce_profile_path and tp > 1:
        bw, _ = all_reduce_link(spec.platform, spec.gpu)
        table = load_vidur_all_reduce_csv(cost.allreduce_profile_path)
        all_reduce = MeasuredAllReduce(table, tp, bw, source=str(cost.allreduce_profile_path)).per_call_s
    return ComposedSource(
        measured,
        OperatorRoofline((lm_head_operator(model, tp),), roofline),
        all_reduce,
        GPUAttention(model, tp, roofline, roofline.bytes_per_s),
        layer_has_other=False,
    )


class AttAccSource:
    """The AttAcc simulator's GPU model (attacc.py, docs/gpu-attacc.md) behind the CostSource interface.

    Its operators map onto LAYER_KEYS as ffn = the FFN's GEMMs + activation and
    other = the two norms (AttAcc has no rotary embedding or residual add). A
    prefill chunk is timed as AttAcc times a lone prompt (one request's
    attention problems, non-causal), which is how the serving engine issues
    chunks. AttAcc's decode attention depends on the number of requests (SM
    occupancy of KV heads / tp x requests problems); without ``num_requests``
    the SMs are taken as fully occupied (the large-batch limit), so callers
    that know the batch pass it.
    """

    def __init__(self, spec: RunSpec) -> None:
        model = spec.model
        self._model = AttAccGPUModel(model, spec.platform.gpu, spec.deployment.tp)
        self._bytes_per_token = model.hidden_size * model.dtype_bytes
        self._full_occupancy_requests = float(spec.platform.gpu.num_sms)

    def layer_times_s(self, num_tokens) -> np.ndarray:
        ops = self._model.layer_op_times_s(num_tokens)
        groups = (ops["qkv_proj"], ops["out_proj"], np.add(ops["ffn"], ops["activation"]), ops["norm"])
        return np.stack([np.asarray(g, dtype=float) for g in groups], axis=-1)

    def lm_head_time_s(self, num_logits) -> np.ndarray:
        return np.asarray(self._model.lm_head_time_s(num_logits), dtype=float)

    def all_reduce_time_s(self, nbytes) -> np.ndarray:
        return np.asarray(self._model.all_reduce_time_s(np.asarray(nbytes, dtype=float) / self._bytes_per_token))

    def prefill_attention_time_s(self, chunk_tokens, done_tokens) -> np.ndarray:
        return np.asarray(self._model.prefill_attention_time_s(chunk_tokens, done_tokens), dtype=float)

    def decode_attention_time_s(self, total_context_tokens, num_requests=None):
        if num_requests is None:
            # As many requests as SMs make whole waves of problems (occupancy 1); affine in the total.
            num_requests = self._full_occupancy_requests
        return self._model.decode_attention_time_s(total_context_tokens, num_requests)


def attacc_source(spec: RunSpec) -> CostSource:
    """The AttAcc simulator's GPU formulas (the L3 paper's GPU side; attacc.py)."""
    return AttAccSource(spec)


SOURCE_BUILDERS: dict[str, Callable[[RunSpec], CostSource]] = {
    "attacc": attacc_source,
    "calibrated": calibrated_source,
    "roofline": roofline_source,
    "profile": profile_source,
}
