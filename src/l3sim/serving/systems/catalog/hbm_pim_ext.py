"""hbm-pim-ext: separate HBM-PIM modules that hold only the KV cache, reached over the host link."""

from __future__ import annotations

from l3sim.hw import devices
from l3sim.hw.energy import HBM_PIM_EXT as HBM_PIM_EXT_ENERGY
from l3sim.hw.roofline import overlapped_device
from l3sim.serving.systems.disaggregated import DisaggregatedSystem, compose
from l3sim.serving.systems.registry import SystemEntry
from l3sim.spec.run import RunSpec


def build(spec: RunSpec, entry: SystemEntry) -> DisaggregatedSystem:
    """The GPUs plus ``devices.hbm_pim_ext`` modules (1/dp of them per replica)."""
    return compose(spec, entry, devices.hbm_pim_ext(spec))


ENTRIES = (
    SystemEntry("hbm-pim-ext", build, "subbatch", "separate HBM-PIM modules holding only the KV cache",
                energy=HBM_PIM_EXT_ENERGY, roofline=overlapped_device("hbm-pim-ext", lambda spec, gpu:
                                                                      devices.hbm_pim_ext(spec)), order=40),
)
