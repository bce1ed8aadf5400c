"""Energy of a serving run: GPU FC work, attention and background, from event counts and EnergySpec's energies.

What is counted (docs/energy.md has the equations and every source):

- GPU FC: FC FLOPs (QKV, output projection, FFN over every token the dense
  layers process, LM head over every output token) x pJ/FLOP, plus the
  weights read from HBM once per FC pass x HBM pJ/byte.
- attention, by the device that holds the KV cache:
  ``gpu-hbm`` (gpu-only): KV bytes read from HBM x HBM pJ/byte + attention
  FLOPs x GPU pJ/FLOP; ``hbm-pim``: KV bytes read in-bank x in-bank pJ/byte +
  MACs x PIM MAC energy; ``dimm-pim`` (l3, r-pim): the PIM kernel's event
  counts (``l3sim.hw.pim.event_counts``) x DDR4 per-event energies;
  ``hbm-pim-ext``: as ``hbm-pim``, in the separate modules' banks;
  ``host-cpu`` (cpu-offload): the KV bytes streamed from the DIMMs (row
  activations, array reads, channel I/O) and the attention FLOPs on the CPU.
  Prefill attention runs on the GPUs in every system: its FLOPs x GPU pJ/FLOP.
- background: GPU static power x GPUs x makespan; for systems whose KV cache
  sits in the host DIMMs, the DIMMs' standby and refresh power (and any
  rank-PU static power) x ranks x makespan.

Which model a system uses is part of its registry entry
(``l3sim.serving.systems``); the energy of a finished run, from its metrics,
is ``l3sim.experiments.energy_accounting`` (it may redraw the requests, which
is workload business, above this layer).

Decode work comes from the served requests' lengths: a request with prompt p
and n output tokens decodes n - 1 times, over contexts p + 1 ... p + n - 1
(docs/serving.md, token bookkeeping). Recompute after pre-emption adds
prefill tokens (taken from the run's aggregates when it has them) but no
decode steps. Not counted: PCIe transfers, KV writes (1 per token against
a read of the whole context per step), the host CPU's idle power.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from l3sim.errors import ConfigError
from l3sim.hw.pim.events import event_counts
from l3sim.hw.pim.geometry import RankGeometry
from l3sim.hw.pim.system import PIMSystem
from l3sim.spec.energy import DDR4CurrentSpec, EnergySpec
from l3sim.spec.model import ModelSpec
from l3sim.spec.run import RunSpec


# ---- DDR4 per-event energies (Micron TN-40-07) --------------------------------------------------------------
@dataclass(frozen=True)
class DRAMEventEnergies:
    """Energy of one DRAM event, from a chip's IDD currents and the timing."""

    activation_j: float  # one ACT + PRE of one bank of one chip
    read_j_per_byte: float  # column read inside a chip (array to the chip's edge), per byte
    write_j_per_byte: float  # column write inside a chip, per byte
    background_w_per_rank: float  # active standby + refresh of a whole rank


def ddr4_event_energies(currents: DDR4CurrentSpec, geometry: RankGeometry) -> DRAMEventEnergies:
    """Micron TN-40-07's method: activation from IDD0 over tRC less the standby currents; bursts from IDD4R/W.

    E_act = VDD (IDD0 tRC - IDD3N tRAS - IDD2N (tRC - tRAS)) + VPP (IPP0 - IPP3N) tRC, with tRC = tRAS + tRP;
    E_read per byte = VDD (IDD4R - IDD3N) tBurst / bytes per chip burst (IDD4R is measured with IOUT = 0, so
    the I/O energy is separate); background per rank = chips x (VDD IDD3N + VPP IPP3N + VDD (IDD5B - IDD3N)
    tRFC / tREFI).
    """
    c, g = currents, geometry
    tck = g.tck_s
    t_ras, t_rc = g.tras * tck, (g.tras + g.trp) * tck
    activation = c.vdd_v * (c.idd0_a * t_rc - c.idd3n_a * t_ras - c.idd2n_a * (t_rc - t_ras))
    activation += c.vpp_v * (c.ipp0_a - c.ipp3n_a) * t_rc
    burst_s = g.burst_cycles * tck
    read = c.vdd_v * (c.idd4r_a - c.idd3n_a) * burst_s / g.burst_bytes_per_chip
    write = c.vdd_v * (c.idd4w_a - c.idd3n_a) * burst_s / g.burst_bytes_per_chip
    refresh_w = c.vdd_v * (c.idd5b_a - c.idd3n_a) * g.trfc / g.trefi
    background = g.chips_per_rank * (c.vdd_v * c.idd3n_a + c.vpp_v * c.ipp3n_a + refresh_w)
    bad = [name for name, value in (("activation (IDD0 vs IDD3N/IDD2N, IPP0 vs IPP3N)", activation),
                                    ("read (IDD4R vs IDD3N)", read), ("write (IDD4W vs IDD3N)", write),
                                    ("refresh (IDD5B vs IDD3N)", refresh_w)) if value < 0]
    if bad:
        raise ConfigError(f"energy.ddr4: currents give a negative energy for {', '.join(bad)}")
    return DRAMEventEnergies(activation, read, write, background)


# ---- the work a run did ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunWork:
    """What a run computed: decode contexts as a histogram, prefill work, and the run's counters.

    ``decode_contexts[i]`` tokens were attended over by ``decode_counts[i]`` decode steps (each step: every
    layer of one request).
    """

    decode_contexts: np.ndarray
    decode_counts: np.ndarray
    prefill_tokens: int
    prefill_pairs: float  # causal query-key pairs of the prompts: sum p (p + 1) / 2
    output_tokens: int
    fc_passes: int  # times the weights were read for an FC pass
    makespan_s: float

    @property
    def decode_steps(self) -> int:
        return int(self.decode_counts.sum())

    @property
    def decode_context_tokens(self) -> int:
        """Sum over decode steps of the tokens attended over."""
        return int(np.dot(self.decode_contexts, self.decode_counts))


def decode_histogram(prompt_tokens, output_tokens) -> tuple[np.ndarray, np.ndarray]:
    """Distinct contexts of every decode step and how many steps see each (requests decode p+1 ... p+n-1)."""
    p = np.asarray(prompt_tokens, dtype=np.int64)
    n = np.asarray(output_tokens, dtype=np.int64)
    if p.shape != n.shape or np.any(p < 1) or np.any(n < 1):
        raise ConfigError("prompt_tokens and output_tokens must be equal-length arrays of values >= 1")
    decoding = n >= 2
    lo, hi = p[decoding] + 1, p[decoding] + n[decoding] - 1
    if lo.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    diff = np.zeros(int(hi.max()) + 2, dtype=np.int64)
    np.add.at(diff, lo, 1)
    np.add.at(diff, hi + 1, -1)
    counts = np.cumsum(diff)[:-1]
    contexts = np.flatnonzero(counts)
    return contexts, counts[contexts]


# ---- energy -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EnergyBreakdown:
    """Joules of one run by part; ``parts`` names the terms each part sums."""

    system: str
    output_tokens: int
    gpu_fc_j: float
    attention_j: float
    background_j: float
    parts: dict[str, float] = field(default_factory=dict)

    @property
    def total_j(self) -> float:
        return self.gpu_fc_j + self.attention_j + self.background_j

    @property
    def energy_per_token_j(self) -> float:
        return self.total_j / self.output_tokens if self.output_tokens else float("nan")

    def to_dict(self) -> dict[str, Any]:
        """The table row of the ``energy`` study: per-token figures and the run totals."""
        per = 1.0 / self.output_tokens if self.output_tokens else float("nan")
        return {
            "system": self.system,
            "energy_per_token_j": self.energy_per_token_j,
            "gpu_fc_j": self.gpu_fc_j * per,
            "attention_j": self.attention_j * per,
            "background_j": self.background_j * per,
            "total_j": self.total_j,
            "output_tokens": self.output_tokens,
            **{f"{name}_j": value for name, value in self.parts.items()},
        }


def fc_flops_per_token(model: ModelSpec) -> int:
    """FLOPs of the dense layers for one token, all layers (QKV, output projection, FFN)."""
    return model.num_layers * (model.qkv_flops_per_token + model.out_proj_flops_per_token
                               + model.ffn_flops_per_token)


def gpu_fc_energy(spec: RunSpec, work: RunWork, energy: EnergySpec, fc_flops: float | None = None) -> dict:
    """FC FLOPs x pJ/FLOP and weight reads x HBM pJ/byte (per FC pass, the whole replica's weights)."""
    from l3sim.hw.gpu.memory import weight_bytes_per_gpu  # lazy: l3sim.hw.gpu loads pandas (~0.4 s)

    model, tp = spec.model, spec.deployment.tp
    if fc_flops is None:
        tokens = work.prefill_tokens + work.decode_steps
        fc_flops = tokens * fc_flops_per_token(model) + work.output_tokens * model.lm_head_flops_per_token
    weights = work.fc_passes * weight_bytes_per_gpu(model, tp) * tp
    return {"fc_compute": fc_flops * energy.gpu_j_per_flop, "fc_weight_reads": weights * energy.hbm_j_per_byte}


def _attention_flops_per_context_token(model: ModelSpec) -> int:
    """FLOPs of one query token over one cached token, all layers (q.K^T and S.V)."""
    return model.num_layers * model.attention_flops_per_token(1)


def _gpu_hbm(spec: RunSpec, work: RunWork, energy: EnergySpec) -> dict:
    context = work.decode_context_tokens
    return {"decode_kv_reads": context * spec.model.kv_bytes_per_token * energy.hbm_j_per_byte,
            "decode_attention_compute": context * _attention_flops_per_context_token(spec.model)
            * energy.gpu_j_per_flop}


def _hbm_pim(spec: RunSpec, work: RunWork, energy: EnergySpec) -> dict:
    context = work.decode_context_tokens
    macs = context * _attention_flops_per_context_token(spec.model) / 2
    return {"decode_kv_inbank_reads": context * spec.model.kv_bytes_per_token * energy.hbm_pim_inbank_j_per_byte,
            "decode_pim_macs": macs * energy.pim_mac_j}


def dimm_call_energies(spec: RunSpec, energy: EnergySpec, contexts, variant: str) -> dict[str, np.ndarray]:
    """Joules of one PIM attention call (one request, one layer) at each context, by kind of event."""
    system = PIMSystem(spec.memory, spec.pim)
    dram = ddr4_event_energies(energy.ddr4, system.geometry)
    model = spec.model
    ev = event_counts(np.asarray(contexts, dtype=np.int64), model.num_heads, model.gqa_group, variant, system,
                      head_dim=model.head_dim)
    return {
        "activations": ev["activations"] * dram.activation_j,
        "array_reads": ev["reads"] * dram.read_j_per_byte,
        "pim_inbank_reads": ev["pim_read_bytes"] * dram.read_j_per_byte * energy.pim_inbank_read_fraction,
        "array_writes": ev["writes"] * dram.write_j_per_byte,
        "pim_macs": ev["macs"] * energy.pim_mac_j,
        "channel_io": ev["channel_bytes"] * energy.ddr4_io_j_per_byte,
        "rank_bus_io": ev["rank_bus_bytes"] * energy.rank_bus_io_j_per_byte,
    }


def _dimm_pim(variant: str | None) -> Callable[[RunSpec, RunWork, EnergySpec], dict]:
    """DIMM-PIM attention of the PIM kernel ``variant`` (None: the l3 system's, ``devices.dimm_pim.l3_variant``)."""
    def attention(spec: RunSpec, work: RunWork, energy: EnergySpec) -> dict:
        if work.decode_contexts.size == 0:
            return {}
        calls = dimm_call_energies(spec, energy, work.decode_contexts,
                                   variant or spec.devices.dimm_pim.l3_variant)
        layers = spec.model.num_layers
        return {f"decode_{name}": float(np.dot(value, work.decode_counts)) * layers for name, value in calls.items()}

    return attention


def _host_geometry(spec: RunSpec) -> RankGeometry:
    """The host memory's ranks (every system that keeps its KV cache in the DIMMs sees the same ones)."""
    return PIMSystem(spec.memory, spec.pim).geometry


def _host_cpu(spec: RunSpec, work: RunWork, energy: EnergySpec) -> dict:
    """The CPU streams every decode step's KV cache out of the DIMMs: each rank row it opens is one ACT in every
    chip of the rank (a sequential stream reads whole rows), each byte one array read and one channel transfer;
    the CPU then computes the attention FLOPs."""
    context = work.decode_context_tokens
    kv_bytes = context * spec.model.kv_bytes_per_token
    g = _host_geometry(spec)
    dram = ddr4_event_energies(energy.ddr4, g)
    rank_row_bytes = g.row_bursts * g.burst_bytes_per_rank
    return {"decode_activations": kv_bytes / rank_row_bytes * g.chips_per_rank * dram.activation_j,
            "decode_array_reads": kv_bytes * dram.read_j_per_byte,
            "decode_channel_io": kv_bytes * energy.ddr4_io_j_per_byte,
            "decode_cpu_compute": context * _attention_flops_per_context_token(spec.model) * energy.cpu_j_per_flop}


@dataclass(frozen=True)
class AttentionEnergyModel:
    """The attention side of a system's energy: the device that holds the KV cache and runs decode attention.

    ``attention(spec, work, energy) -> {part: joules}``; ``host_dimms``: the KV cache sits in the host DIMMs,
    whose standby and refresh power then counts; ``rank_pus``: each rank also has a rank PU (its static power).
    """

    device: str
    attention: Callable[[RunSpec, RunWork, EnergySpec], dict]
    host_dimms: bool = False
    rank_pus: bool = False


GPU_HBM = AttentionEnergyModel("gpu-hbm", _gpu_hbm)
HBM_PIM = AttentionEnergyModel("hbm-pim", _hbm_pim)
HBM_PIM_EXT = AttentionEnergyModel("hbm-pim-ext", _hbm_pim)
HOST_CPU = AttentionEnergyModel("host-cpu", _host_cpu, host_dimms=True)
DIMM_PIM_L3 = AttentionEnergyModel("dimm-pim", _dimm_pim(None), host_dimms=True, rank_pus=True)
DIMM_PIM_RANK = AttentionEnergyModel("dimm-pim", _dimm_pim("rank-pim"), host_dimms=True, rank_pus=True)


def background_energy(spec: RunSpec, work: RunWork, energy: EnergySpec, model: AttentionEnergyModel) -> dict:
    """Static power x makespan: every GPU of the deployment, and the DIMMs when they hold the KV cache."""
    parts = {"gpu_static": energy.gpu_static_w * spec.deployment.num_gpus * work.makespan_s}
    if model.host_dimms:
        geometry = _host_geometry(spec)
        per_rank = ddr4_event_energies(energy.ddr4, geometry).background_w_per_rank
        if model.rank_pus:
            per_rank += energy.rank_pu_static_w
        parts["dimm_background"] = per_rank * geometry.ranks * work.makespan_s
    return parts


def energy_breakdown(spec: RunSpec, work: RunWork, model: AttentionEnergyModel, energy: EnergySpec | None = None,
                     fc_flops: float | None = None) -> EnergyBreakdown:
    """Energy of ``work`` done by the system of ``spec`` whose attention energy is ``model``.

    ``fc_flops``: the run's own count of FC FLOPs when it has one (else from the model and the token counts).
    """
    energy = energy or EnergySpec()
    fc = gpu_fc_energy(spec, work, energy, fc_flops)
    att = model.attention(spec, work, energy)
    att["prefill_attention_compute"] = (work.prefill_pairs * _attention_flops_per_context_token(spec.model)
                                        * energy.gpu_j_per_flop)
    background = background_energy(spec, work, energy, model)
    return EnergyBreakdown(spec.system, work.output_tokens, sum(fc.values()), sum(att.values()),
                           sum(background.values()), {**fc, **att, **background})
