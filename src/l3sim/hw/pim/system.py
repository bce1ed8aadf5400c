"""PIMSystem: the host memory (the DRAM area's HostMemorySpec) and the PIM units, which every cost here needs."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from l3sim.hw.pim.geometry import RankGeometry, rank_geometry
from l3sim.spec.pim import PIMSpec


@dataclass(frozen=True)
class PIMSystem:
    """A DIMM-PIM host memory: ``memory`` (HostMemorySpec) fitted with ``pim`` (PIMSpec) units."""

    memory: object
    pim: PIMSpec = field(default_factory=PIMSpec)

    @cached_property
    def geometry(self) -> RankGeometry:
        """The rank numbers the kernels use, read once."""
        return rank_geometry(self.memory)
