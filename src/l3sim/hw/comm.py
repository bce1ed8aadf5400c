"""GPU <-> attention-device communication per iteration: PCIe (or CXL) links and the DDR channels.

What crosses (L3 paper, section V-C), per sub-batch and
iteration:

- each decoding request's q, k, v of the new token, every layer, GPU -> device,
  and its attention output back: ``(2 q_size + 2 kv_size) x dtype x layers``
  bytes. Synchronous: attention of layer l needs them. Per layer one DMA per
  direction per GPU carries the whole sub-batch (the TP group's GPUs each send
  their heads' share over their own link, so the bytes are striped over tp
  links and each DMA pays the link latency once).
- prefill KV (GPU -> device), ``kv_bytes_per_token`` per prefilled token,
  streamed asynchronously during the FC layers: it occupies the link (counted
  in ``pcie_bytes``) and the DDR channels, but not the attention critical path
  on the PCIe side.

On the host, a transfer to a rank occupies that rank's channel. The channel
time of the bytes is ``bytes / (channels x channel peak)``. With rankset
overlap (L3) one rankset communicates while the others keep computing, and
each request's layers are spread over all ranksets, so a rank loses only its
own share, ``channel time / ranksets``; without it transfers and PIM compute on
a channel serialise and the whole channel time adds to the attention stage.
"""

from __future__ import annotations

from dataclasses import dataclass

from l3sim.hw.devices.base import AttentionDevice
from l3sim.spec.run import RunSpec


@dataclass(frozen=True)
class CommModel:
    """Transfer times of one replica (see the module docstring). ``link_bw_bytes_per_s`` = 0: no link."""

    decode_bytes_per_request: float
    prefill_bytes_per_token: float
    layers: int
    links: int
    link_bw_bytes_per_s: float
    link_latency_s: float
    ddr_bw_bytes_per_s: float
    ddr_stall_divisor: int

    def pcie_bytes(self, num_decodes: int, prefill_tokens: int) -> float:
        """Bytes that cross the GPU <-> host links (both directions, all links)."""
        if self.link_bw_bytes_per_s <= 0:
            return 0.0
        return num_decodes * self.decode_bytes_per_request + prefill_tokens * self.prefill_bytes_per_token

    def pcie_sync_s(self, num_decodes: int) -> float:
        """Synchronous link time of a sub-batch's decode vectors: two DMAs per layer, bytes over ``links``."""
        if num_decodes == 0 or self.link_bw_bytes_per_s <= 0:
            return 0.0
        per_link = num_decodes * self.decode_bytes_per_request / self.links
        return 2 * self.layers * self.link_latency_s + per_link / self.link_bw_bytes_per_s

    def ddr_stall_s(self, num_decodes: int, prefill_tokens: int) -> float:
        """Attention-device time lost to transfers on the DDR channels (overlap divides it by the ranksets)."""
        if self.ddr_bw_bytes_per_s <= 0:
            return 0.0
        nbytes = num_decodes * self.decode_bytes_per_request + prefill_tokens * self.prefill_bytes_per_token
        return nbytes / self.ddr_bw_bytes_per_s / self.ddr_stall_divisor

    def attention_side_s(self, num_decodes: int, other_prefill_tokens: int) -> float:
        """Communication on a sub-batch's attention stage: its decode vectors and the other's prefill KV."""
        return self.pcie_sync_s(num_decodes) + self.ddr_stall_s(num_decodes, other_prefill_tokens)


def build_comm(spec: RunSpec, device: AttentionDevice) -> CommModel:
    """The communication of ``device`` under ``spec`` (host link per GPU; rankset overlap from the spec)."""
    model, link = spec.model, spec.platform.host_link
    overlap = spec.devices.comm.rankset_overlap and device.ranksets > 1
    return CommModel(
        decode_bytes_per_request=float((2 * model.q_size + 2 * model.kv_size) * model.dtype_bytes * model.num_layers),
        prefill_bytes_per_token=float(model.kv_bytes_per_token),
        layers=model.num_layers,
        links=spec.deployment.tp,
        link_bw_bytes_per_s=link.bw_bytes_per_s if device.over_pcie else 0.0,
        link_latency_s=link.latency_s,
        ddr_bw_bytes_per_s=device.ddr_bw_bytes_per_s,
        ddr_stall_divisor=device.ranksets if overlap else 1,
    )
