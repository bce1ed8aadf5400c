"""Builders of the disaggregated systems: which attention device, which default scheduler.

| system | decode attention on | KV capacity | scheduler |
|---|---|---|---|
| hbm-pim | PIM in the GPUs' HBM (AttAcc) | HBM left after weights | subbatch |
| hbm-pim-single | the same, no sub-batch interleaving | same | continuous |
| hbm-pim-ext | separate HBM-PIM modules | modules x capacity | subbatch |
| cpu-offload | host CPU (NEO / FastDecode) | host DIMMs | subbatch |
| r-pim | rank-level DIMM-PIM (`rank-pim` kernels) | host DIMMs | subbatch |
| l3 | bank-level DIMM-PIM (`devices.dimm_pim.l3_variant`) | host DIMMs | l3 |
"""

from __future__ import annotations

from l3sim.hw import devices
from l3sim.hw.comm import build_comm
from l3sim.serving.systems.accounting import nominal_gpu_cost
from l3sim.serving.systems.disaggregated import DisaggregatedSystem
from l3sim.spec.run import RunSpec


def _system(spec: RunSpec, name: str, scheduler: str, device, gpu, rankset_tracks: int = 1) -> DisaggregatedSystem:
    return DisaggregatedSystem(
        name, scheduler, gpu, device, build_comm(spec, device), spec.model, rankset_tracks,
        nominal_gpu=nominal_gpu_cost(spec), nominal_bw_bytes_per_s=device.nominal_bw_bytes_per_s,
    )


def _gpu(spec: RunSpec):
    from l3sim.hw.gpu import GPUCostModel

    return GPUCostModel(spec)


def build_hbm_pim(spec: RunSpec, name: str = "hbm-pim", scheduler: str = "subbatch") -> DisaggregatedSystem:
    gpu = _gpu(spec)
    return _system(spec, name, scheduler, devices.gpu_hbm_pim(spec, gpu.kv_capacity_bytes), gpu)


def build_hbm_pim_single(spec: RunSpec) -> DisaggregatedSystem:
    return build_hbm_pim(spec, "hbm-pim-single", "continuous")


def build_hbm_pim_ext(spec: RunSpec) -> DisaggregatedSystem:
    return _system(spec, "hbm-pim-ext", "subbatch", devices.hbm_pim_ext(spec), _gpu(spec))


def build_cpu_offload(spec: RunSpec) -> DisaggregatedSystem:
    return _system(spec, "cpu-offload", "subbatch", devices.host_cpu(spec), _gpu(spec))


def _dimm(spec: RunSpec, name: str, scheduler: str, variant: str) -> DisaggregatedSystem:
    device = devices.dimm_pim(spec, variant)
    return _system(spec, name, scheduler, device, _gpu(spec), device.ranksets)


def build_r_pim(spec: RunSpec) -> DisaggregatedSystem:
    return _dimm(spec, "r-pim", "subbatch", "rank-pim")


def build_l3(spec: RunSpec) -> DisaggregatedSystem:
    from l3sim.serving.schedulers import SCHEDULERS

    scheduler = "l3" if "l3" in SCHEDULERS else "capacity-first"
    return _dimm(spec, "l3", scheduler, spec.devices.dimm_pim.l3_variant)
