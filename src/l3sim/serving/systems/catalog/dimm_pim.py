"""r-pim and l3: DIMM-PIM in the host DIMMs, rank-level (R-PIM) or bank-level (L3, the paper's system)."""

from __future__ import annotations

from l3sim.hw import devices
from l3sim.hw.energy import DIMM_PIM_L3, DIMM_PIM_RANK
from l3sim.hw.roofline import overlapped_device
from l3sim.serving.systems.disaggregated import DisaggregatedSystem, compose
from l3sim.serving.systems.registry import SystemEntry
from l3sim.spec.run import RunSpec


def _build(spec: RunSpec, entry: SystemEntry, variant: str) -> DisaggregatedSystem:
    """The GPUs plus DIMM-PIM running ``variant``'s kernels; each rankset gets its own timeline track."""
    device = devices.dimm_pim(spec, variant)
    return compose(spec, entry, device, rankset_tracks=device.ranksets)


def build_r_pim(spec: RunSpec, entry: SystemEntry) -> DisaggregatedSystem:
    """Rank-level PIM: the ``rank-pim`` kernels."""
    return _build(spec, entry, "rank-pim")


def build_l3(spec: RunSpec, entry: SystemEntry) -> DisaggregatedSystem:
    """Bank-level PIM: ``devices.dimm_pim.l3_variant`` (l3, or an ablation)."""
    return _build(spec, entry, spec.devices.dimm_pim.l3_variant)


ENTRIES = (
    SystemEntry("r-pim", build_r_pim, "subbatch", "rank-level DIMM-PIM (a PU per rank on the buffer chip)",
                energy=DIMM_PIM_RANK, roofline=overlapped_device(
                    "rank-pim", lambda spec, gpu: devices.dimm_pim(spec, "rank-pim")), order=60),
    SystemEntry("l3", build_l3, "l3", "L3: bank-level DIMM-PIM with the L3 scheduler (the paper's system)",
                energy=DIMM_PIM_L3, roofline=overlapped_device(
                    "l3", lambda spec, gpu: devices.dimm_pim(spec, spec.devices.dimm_pim.l3_variant)), order=70),
)
