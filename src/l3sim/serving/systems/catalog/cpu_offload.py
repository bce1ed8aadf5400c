"""cpu-offload: the host CPU runs decode attention over the KV cache in the host DIMMs (NEO / FastDecode)."""

from __future__ import annotations

from l3sim.hw import devices
from l3sim.hw.energy import HOST_CPU
from l3sim.hw.roofline import overlapped_device
from l3sim.serving.systems.disaggregated import DisaggregatedSystem, compose
from l3sim.serving.systems.registry import SystemEntry
from l3sim.spec.run import RunSpec


def build(spec: RunSpec, entry: SystemEntry) -> DisaggregatedSystem:
    """The GPUs plus the host CPU reading the replica's DIMM channels."""
    return compose(spec, entry, devices.host_cpu(spec))


ENTRIES = (
    SystemEntry("cpu-offload", build, "subbatch", "host CPU attention over the KV cache in the host DIMMs",
                energy=HOST_CPU, roofline=overlapped_device("cpu", lambda spec, gpu: devices.host_cpu(spec)),
                order=50),
)
