"""PIMSystem: the host memory (the DRAM area's HostMemorySpec) and the PIM units, which every cost here needs."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from l3sim.hw.pim.geometry import RankGeometry, rank_geometry
from l3sim.spec.dram import load_memory
from l3sim.spec.pim import PIMSpec
from l3sim.spec.presets import apply_overrides


@dataclass(frozen=True)
class PIMSystem:
    """A DIMM-PIM host memory: ``memory`` (HostMemorySpec) fitted with ``pim`` (PIMSpec) units."""

    memory: object
    pim: PIMSpec = field(default_factory=PIMSpec)

    @cached_property
    def geometry(self) -> RankGeometry:
        """The rank numbers the kernels use, read once."""
        return rank_geometry(self.memory)


def load_pim_system(platform: str = "dgx-a100-l3", overrides: list[str] | None = None) -> PIMSystem:
    """A memory preset (kind "memory") or TOML file with the default PIMSpec, and ``--set`` overrides.

    ``pim.<field>=value`` sets a PIMSpec field (e.g. ``pim.mapping.n_hc=4``); any other key sets a field
    of the resolved memory spec (e.g. ``channels=32``, ``dram.timing.tCCD_L=10``).
    """
    overrides = [o.strip() for o in overrides or []]
    memory = load_memory(platform, [o for o in overrides if not o.startswith("pim.")])
    pim_overrides = [o[len("pim."):] for o in overrides if o.startswith("pim.")]
    pim = PIMSpec()
    if pim_overrides:
        pim = PIMSpec.parse(apply_overrides(pim.model_dump(), pim_overrides), source="pim (after --set overrides)")
    return PIMSystem(memory, pim)
