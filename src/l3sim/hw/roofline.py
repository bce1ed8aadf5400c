"""The disaggregated roofline (L3 paper, section I): throughput = min(GPU FC at batch B, attention), B <= capacity.

At a fixed context of N tokens per request, for batch B (requests per
replica decoding together):

- GPU FC roof: ``B / fc_time_s(B, B)`` (every request feeds one token through
  the dense layers and the LM head per step), rising with B;
- attention roof of a device: its ``slots`` units work in parallel, a step of
  one request costs ``fixed_s + per_token_s x N`` on its slot (the serving
  systems' ``AttentionDevice`` numbers), so B requests take
  ``ceil(B / slots)`` such steps: ``B / (ceil(B / slots) x (fixed_s + per_token_s x N))``;
  flat for a pooled device (slots = 1), rising until B = slots for DIMM-PIM;
- capacity limit: ``B_max = floor(KV capacity / (KV bytes per token x N))``.

A disaggregated device overlaps the two (two sub-batches): its curve is
``min(FC, attention)``. GPU HBM attention runs on the same GPUs as the FC
layers, so the GPU-only curve is serial: ``1 / (1 / FC + 1 / attention)``.
Throughputs are for the whole deployment (dp replicas); batches are per replica.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from l3sim.errors import ConfigError
from l3sim.hw.devices.base import AttentionDevice
from l3sim.spec.run import RunSpec

if TYPE_CHECKING:
    from l3sim.hw.gpu import GPUCostModel

#: Batch sizes evaluated exactly (every integer) up to this many; beyond, a log grid (the curve is smooth there).
EXACT_BATCHES = 100_000
GRID_POINTS = 400


@dataclass(frozen=True)
class AttentionRoof:
    """One attention device at one context: capacity and step cost per request, slot-parallel."""

    name: str
    kv_capacity_bytes: float
    slots: int
    step_s: float  # one decode step (all layers) of one request at the context, on its slot
    overlapped: bool  # True: runs beside the GPU FC work (min); False: shares the GPUs (serial)

    def max_batch(self, kv_bytes_per_request: float) -> int:
        return int(self.kv_capacity_bytes // kv_bytes_per_request)

    def tok_s(self, batch: np.ndarray, dp: int) -> np.ndarray:
        b = np.asarray(batch, dtype=float)
        return dp * b / (np.ceil(b / self.slots) * self.step_s)


@dataclass(frozen=True)
class RooflineDevice:
    """An attention device as the roofline sees it: its name and its roof at a context.

    ``roof(spec, gpu, context_tokens)``; ``gpu`` is the replica's GPU cost model (built once per roofline).
    Each system's registry entry (``l3sim.serving.systems``) names the device its attention runs on.
    """

    name: str
    roof: Callable[[RunSpec, GPUCostModel, int], AttentionRoof]


def _gpu_hbm_roof(spec: RunSpec, gpu: GPUCostModel, context_tokens: int) -> AttentionRoof:
    # One more request's share: the calibrated source also charges a fixed per-iteration kernel
    # time, which the whole batch shares, so the per-request step is the marginal time.
    step = float(gpu.decode_attention_time_s(2 * context_tokens) - gpu.decode_attention_time_s(context_tokens))
    return AttentionRoof("gpu-hbm", gpu.kv_capacity_bytes, 1, step, overlapped=False)


#: Decode attention on the GPUs that also run the FC layers (serial with them).
GPU_HBM = RooflineDevice("gpu-hbm", _gpu_hbm_roof)


def overlapped_device(name: str, build: Callable[[RunSpec, GPUCostModel], AttentionDevice]) -> RooflineDevice:
    """A separate attention device (``build(spec, gpu)``, one of ``l3sim.hw.devices``) that works beside the GPUs."""

    def roof(spec: RunSpec, gpu: GPUCostModel, context_tokens: int) -> AttentionRoof:
        d = build(spec, gpu)
        return AttentionRoof(name, d.kv_capacity_bytes, d.slots, d.fixed_s + d.per_token_s * context_tokens,
                             overlapped=True)

    return RooflineDevice(name, roof)


def attention_roofs(spec: RunSpec, context_tokens: int, devices: Sequence[RooflineDevice]) -> list[AttentionRoof]:
    """The roofs of ``devices`` for ``spec``'s platform, host memory and device specs, at ``context_tokens``."""
    from l3sim.hw.gpu import GPUCostModel  # lazy: l3sim.hw.gpu loads pandas, and the registry imports this module

    gpu = GPUCostModel(spec)
    return [device.roof(spec, gpu, context_tokens) for device in devices]


@dataclass(frozen=True)
class Roofline:
    """The curves at one context: ``batches`` (per replica), FC roof, and per device its roof and limit."""

    context_tokens: int
    kv_bytes_per_request: float
    dp: int
    batches: np.ndarray
    fc_tok_s: np.ndarray
    devices: list[AttentionRoof]

    def device_curves(self, roof: AttentionRoof) -> tuple[np.ndarray, np.ndarray]:
        """(attention roof, combined throughput) over ``batches``; combined is NaN above the capacity limit."""
        att = roof.tok_s(self.batches, self.dp)
        combined = np.minimum(self.fc_tok_s, att) if roof.overlapped else 1.0 / (1.0 / self.fc_tok_s + 1.0 / att)
        return att, np.where(self.batches <= roof.max_batch(self.kv_bytes_per_request), combined, np.nan)

    def summary(self, roof: AttentionRoof) -> dict:
        """Capacity limit, ridge (first batch whose FC throughput reaches the attention roof's peak) and the
        best reachable point (the first batch of highest combined throughput)."""
        att, combined = self.device_curves(roof)
        max_batch = roof.max_batch(self.kv_bytes_per_request)
        peak = float(roof.tok_s(np.array([roof.slots]), self.dp)[0])
        ridge = np.flatnonzero(self.fc_tok_s >= peak)
        reachable = np.flatnonzero(np.isfinite(combined))
        best = reachable[np.argmax(combined[reachable])] if reachable.size else None
        return {
            "device": roof.name,
            "kv_capacity_bytes": roof.kv_capacity_bytes,
            "slots": roof.slots,
            "overlapped": roof.overlapped,
            "attention_step_s": roof.step_s,
            "attention_roof_tok_s": peak,
            "max_batch": max_batch,
            "ridge_batch": int(self.batches[ridge[0]]) if ridge.size else None,
            "operating_batch": int(self.batches[best]) if best is not None else 0,
            "operating_tok_s": float(combined[best]) if best is not None else 0.0,
            "bound": _bound(self.fc_tok_s[best], att[best], roof, max_batch, int(self.batches[best]))
            if best is not None else "capacity",
        }


def _bound(fc: float, att: float, roof: AttentionRoof, max_batch: int, batch: int) -> str:
    """What limits the best point: 'capacity' (at B_max with FC below attention), 'attention' or 'gpu-fc'."""
    if batch == max_batch and fc < att:
        return "capacity"
    return "attention" if att <= fc else "gpu-fc"


def batch_grid(max_batch: int) -> np.ndarray:
    """Every batch 1..max_batch up to EXACT_BATCHES, a log grid beyond (always including max_batch)."""
    if max_batch < 1:
        return np.array([1], dtype=np.int64)
    exact = np.arange(1, min(max_batch, EXACT_BATCHES) + 1, dtype=np.int64)
    if max_batch <= EXACT_BATCHES:
        return exact
    tail = np.unique(np.geomspace(EXACT_BATCHES, max_batch, GRID_POINTS).astype(np.int64))
    return np.unique(np.concatenate([exact, tail, [max_batch]]))


def roofline(spec: RunSpec, context_tokens: int, devices: Sequence[RooflineDevice]) -> Roofline:
    """The disaggregated roofline of ``spec`` (platform, model, memory, devices) at ``context_tokens``.

    ``devices``: the attention devices to draw (``l3sim.serving.systems.roofline_devices()`` lists those of
    the registered systems)."""
    if not devices:
        raise ConfigError("roofline: expected at least one attention device")
    if context_tokens < 1:
        raise ConfigError(f"context: expected at least 1 token, got {context_tokens}")
    from l3sim.hw.gpu import GPUCostModel  # lazy, as above

    gpu = GPUCostModel(spec)
    if not gpu.fits:
        raise ConfigError(gpu.does_not_fit_reason)
    roofs = attention_roofs(spec, context_tokens, devices)
    kv = float(spec.model.kv_bytes_per_token) * context_tokens
    largest = max(d.max_batch(kv) for d in roofs)
    batches = batch_grid(max(largest, 1))
    dp = spec.deployment.dp
    fc = dp * batches / np.asarray(gpu.fc_time_s(batches, batches), dtype=float)
    return Roofline(context_tokens, kv, dp, batches, fc, roofs)
