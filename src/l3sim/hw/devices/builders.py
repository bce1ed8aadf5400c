"""One builder per attention device, each from the RunSpec's specs (no literals: see spec/devices.py).

All capacities and bandwidths are per model replica: with data parallelism
dp, each replica gets 1/dp of the host's channels, of the HBM-PIM-EXT
modules and of the CPU's bandwidth (its own GPUs' HBM is its own already).
"""

from __future__ import annotations

import math

from l3sim.errors import ConfigError
from l3sim.hw.devices.base import AttentionDevice
from l3sim.hw.pim import PIMSystem, attention_cost_coefficients
from l3sim.hw.pim.mapping import head_mapping
from l3sim.spec.pim import variant_features
from l3sim.spec.run import RunSpec


def _bandwidth_device(
    name: str, spec: RunSpec, capacity_bytes: float, bw_bytes_per_s: float, nominal_bw: float, **extra
) -> AttentionDevice:
    """A pooled device that streams every request's KV cache once per step at ``bw_bytes_per_s`` (of a
    nominal ``nominal_bw``)."""
    return AttentionDevice(
        name=name,
        kv_capacity_bytes=capacity_bytes,
        slots=1,
        fixed_s=0.0,
        per_token_s=spec.model.kv_bytes_per_token / bw_bytes_per_s,
        peak_bw_bytes_per_s=bw_bytes_per_s,
        nominal_bw_bytes_per_s=nominal_bw,
        **extra,
    )


def gpu_hbm_pim(spec: RunSpec, kv_capacity_bytes: float) -> AttentionDevice:
    """AttAcc-style PIM in the replica's GPUs' HBM: tp x HBM peak x the internal-bandwidth multiplier.

    The KV cache shares the HBM with the weights (``kv_capacity_bytes`` from the GPU memory plan);
    transfers stay inside the GPU package (no PCIe, no DDR).
    """
    device = spec.devices.hbm_pim
    nominal = spec.deployment.tp * spec.platform.gpu.hbm_bw_bytes_per_s * device.bw_multiplier
    return _bandwidth_device("hbm-pim", spec, kv_capacity_bytes, nominal * device.bw_util, nominal, over_pcie=False)


def hbm_pim_ext(spec: RunSpec) -> AttentionDevice:
    """Separate HBM-PIM modules holding only KV (1/dp of them per replica), reached over the host link."""
    device = spec.devices.hbm_pim_ext
    share = device.modules / spec.deployment.dp
    nominal = share * device.module_bw_bytes_per_s
    return _bandwidth_device(
        "hbm-pim-ext", spec, share * device.module_capacity_bytes, nominal * device.bw_util, nominal
    )


def _replica_channels(spec: RunSpec) -> int:
    channels, dp = spec.memory.channels, spec.deployment.dp
    if channels % dp:
        raise ConfigError(f"memory.channels = {channels} must divide evenly over dp = {dp} replicas")
    return channels // dp


def host_cpu(spec: RunSpec) -> AttentionDevice:
    """The host CPU reading the replica's channels at the memory's peak x ``devices.cpu.bw_util``."""
    channels = _replica_channels(spec)
    memory = spec.memory
    channel_bw = memory.dram.channel_peak_bw_bytes_per_s
    capacity = memory.capacity_bytes * channels / memory.channels
    nominal = channels * channel_bw
    return _bandwidth_device(
        "cpu", spec, capacity, nominal * spec.devices.cpu.bw_util, nominal, ddr_bw_bytes_per_s=nominal
    )


def _kv_heads_filling_a_rank(spec: RunSpec) -> int:
    """KV heads one rank processes at once: its chips / N_hc (1 for MHA's N_hc = 8, 8 for GQA-8's N_hc = 1)."""
    pim = PIMSystem(spec.memory, spec.pim)
    return head_mapping(spec.model.gqa_group, pim.geometry, spec.pim, head_dim=spec.model.head_dim).chip_groups


def layer_split(spec: RunSpec) -> tuple[str, int]:
    """How one request-layer spreads over ranks of one rankset (one rank per channel): (split, ranks).

    ``heads``: the layer's KV heads are divided among the ranks; ``tokens``: every rank holds all heads
    for a share of the context (flash-decoding style; the host merges the partial outputs). ``auto``
    (``devices.dimm_pim.layer_split``) splits by heads when that reaches every channel of the replica,
    and by tokens otherwise (GQA: a few KV heads fill one rank's chips, so a head split would leave
    the other channels idle while a long request streams its layer from one rank).
    """
    channels = _replica_channels(spec)
    config = spec.devices.dimm_pim
    head_ranks = math.gcd(channels, max(1, spec.model.num_kv_heads // _kv_heads_filling_a_rank(spec)))
    split = config.layer_split
    if split == "auto":
        split = "heads" if head_ranks == channels else "tokens"
    if config.ranks_per_layer == "auto":
        return split, head_ranks if split == "heads" else channels
    if channels % config.ranks_per_layer:
        raise ConfigError(
            f"devices.dimm_pim.ranks_per_layer = {config.ranks_per_layer} must divide the replica's "
            f"{channels} channels"
        )
    return split, config.ranks_per_layer


def dimm_pim(spec: RunSpec, variant: str) -> AttentionDevice:
    """DIMM-PIM (bank-level ``l3`` and its ablations, or ``rank-pim``) timed by the PIM fast model.

    A request-layer is split (by KV heads or by context tokens, :func:`layer_split`) over a group of
    ranks of one rankset (one per channel); a slot is (rank group, rankset offset o). A request sits on one slot: its layer l on
    rankset (l + o) mod ranksets of its group, so at every layer the slots map one-to-one onto rank
    groups and each layer takes the busiest slot's time (docs/systems.md). Per request-layer the fast
    model gives ``fixed + per_token x context`` (``attention_cost_coefficients`` with that many ranks);
    x layers for a step. KV capacity: the replica's ranks' bytes, pooled (every request spreads evenly
    over the ranks of its group in every rankset).
    """
    model = spec.model
    channels = _replica_channels(spec)
    memory = spec.memory
    pim = PIMSystem(memory, spec.pim)
    split, group = layer_split(spec)
    fixed, per_token = attention_cost_coefficients(
        model.num_heads, model.gqa_group, variant, pim, ranks=group if split == "heads" else 1,
        head_dim=model.head_dim,
    )
    if split == "tokens":
        per_token /= group  # each rank streams 1/group of the context, all ranks at once
    ranks = channels * memory.ranks_per_channel
    channel_bw = memory.dram.channel_peak_bw_bytes_per_s
    geometry = pim.geometry
    if variant_features(variant).level == "bank":
        rank_bw = geometry.chips_per_rank * geometry.banks_per_chip * geometry.bank_pu_bw_bytes_per_s
    else:
        rank_bw = geometry.channel_bw_bytes_per_s
    return AttentionDevice(
        name=variant,
        kv_capacity_bytes=float(ranks * pim.geometry.rank_capacity_bytes),
        slots=ranks // group,
        fixed_s=model.num_layers * fixed,
        per_token_s=model.num_layers * per_token,
        ranksets=memory.num_ranksets,
        ddr_bw_bytes_per_s=channels * channel_bw,
        peak_bw_bytes_per_s=model.kv_bytes_per_token_per_layer / per_token * ranks // group,
        nominal_bw_bytes_per_s=geometry.ranks * channels / memory.channels * rank_bw,  # bus ranks (DDR5: sub-channels)
    )
