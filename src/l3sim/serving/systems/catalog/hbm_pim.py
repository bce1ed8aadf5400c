"""hbm-pim and hbm-pim-single: AttAcc-style PIM in the GPUs' own HBM, with and without sub-batch interleaving."""

from __future__ import annotations

from l3sim.hw import devices
from l3sim.hw.energy import HBM_PIM as HBM_PIM_ENERGY
from l3sim.hw.roofline import overlapped_device
from l3sim.serving.systems.disaggregated import DisaggregatedSystem, compose
from l3sim.serving.systems.registry import SystemEntry
from l3sim.spec.run import RunSpec


def build(spec: RunSpec, entry: SystemEntry) -> DisaggregatedSystem:
    """The GPUs with PIM in their HBM: the KV cache gets the HBM the weights leave."""
    from l3sim.hw.gpu import GPUCostModel  # lazy: l3sim.hw.gpu loads pandas

    gpu = GPUCostModel(spec)
    return compose(spec, entry, devices.gpu_hbm_pim(spec, gpu.kv_capacity_bytes), gpu)


ROOFLINE = overlapped_device("hbm-pim", lambda spec, gpu: devices.gpu_hbm_pim(spec, gpu.kv_capacity_bytes))

ENTRIES = (
    SystemEntry("hbm-pim", build, "subbatch", "PIM in the GPUs' HBM (AttAcc), two interleaved sub-batches",
                energy=HBM_PIM_ENERGY, roofline=ROOFLINE, order=20),
    SystemEntry("hbm-pim-single", build, "continuous", "hbm-pim without sub-batch interleaving",
                energy=HBM_PIM_ENERGY, roofline=ROOFLINE, order=30),
)
