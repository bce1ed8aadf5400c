"""How the scaling studies grow or shrink the host's DIMM-PIM: ``--set`` overrides on ``RunSpec.memory``.

Three ways to scale by a factor k from a base host (L3 paper, section V:
a rankset is one rank of every channel; L3's bank-level PIM bandwidth is
proportional to the number of ranks, its capacity to ranks x chip density):

- ``both``: k ranksets of the base chips (more ranks per channel): capacity
  and PIM bandwidth both x k. This is what adding DIMMs does.
- ``capacity``: the base ranks with chips k times denser (k times the rows
  per bank, same banks, same column timing): capacity x k, bandwidth x 1.
- ``bandwidth``: k ranksets of chips k times less dense (rows / k): bandwidth
  x k, capacity x 1.

Ranks per channel are laid out as DIMMs of at most :data:`MAX_RANKS_PER_DIMM`
ranks (dual-rank DIMMs, as in the paper's host): 1 rank is one single-rank
DIMM, 2 one dual-rank DIMM, 8 four dual-rank DIMMs per channel (more DIMMs per
channel than a DDR4 server slots: a hypothetical host, as the paper's 8x is).
"""

from __future__ import annotations

from l3sim.errors import ConfigError

MODES = ("bandwidth", "capacity", "both")
#: Ranks one DIMM carries in the scaled hosts (the paper's DIMMs are dual-rank, L3 paper section VI).
MAX_RANKS_PER_DIMM = 2


def _dimms_and_ranks(ranks_per_channel: int) -> tuple[int, int]:
    ranks_per_dimm = min(ranks_per_channel, MAX_RANKS_PER_DIMM)
    if ranks_per_channel % ranks_per_dimm:
        raise ConfigError(f"{ranks_per_channel} ranks per channel do not fill DIMMs of {ranks_per_dimm} ranks")
    return ranks_per_channel // ranks_per_dimm, ranks_per_dimm


def _rows_override(base_rows: int, base_density_gbit: float, factor: float) -> dict[str, float | int]:
    rows = base_rows * factor
    if rows != int(rows) or rows < 1:
        raise ConfigError(f"rows per bank {base_rows} x {factor:g} is not a whole number of rows")
    return {"memory.dram.organisation.rows": int(rows),
            "memory.dram.organisation.chip_density_gbit": float(base_density_gbit * factor)}


def scaled_memory(mode: str, factor: float, base_ranksets: int, base_rows: int,
                  base_density_gbit: float) -> dict[str, float | int]:
    """Dotted RunSpec overrides for a host scaled by ``factor`` in ``mode`` from ``base_ranksets`` ranksets."""
    if mode not in MODES:
        raise ConfigError(f"scaling mode {mode!r}: expected one of {', '.join(MODES)}")
    rank_factor = 1 if mode == "capacity" else factor
    ranks = base_ranksets * rank_factor
    if ranks != int(ranks):
        raise ConfigError(f"{base_ranksets} ranksets x {factor:g} is not a whole number of ranksets")
    dimms, ranks_per_dimm = _dimms_and_ranks(int(ranks))
    overrides: dict[str, float | int] = {"memory.dimms_per_channel": dimms, "memory.ranks_per_dimm": ranks_per_dimm}
    density_factor = {"both": 1, "capacity": factor, "bandwidth": 1 / factor}[mode]
    overrides.update(_rows_override(base_rows, base_density_gbit, density_factor))
    return overrides


def host_figures(memory_preset: str, overrides: dict[str, float | int]) -> dict[str, float]:
    """DIMM capacity (bytes) and bank-level PIM peak bandwidth (bytes/s) of the host ``overrides`` make.

    Computed by the PIM area (``l3sim.hw.pim.memory_report.peak_bandwidths``) from the
    organisation and timing, not by the serving system, so the table states
    what each scaled host offers independently of what the simulator makes of it.
    """
    from l3sim.hw.pim.memory_report import peak_bandwidths
    from l3sim.hw.pim.system import load_pim_system
    from l3sim.experiments.sweep import toml_literal

    memory_overrides = [f"{key.removeprefix('memory.')}={toml_literal(value)}" for key, value in overrides.items()]
    system = load_pim_system(memory_preset, memory_overrides)
    return {"dimm_capacity_bytes": float(system.memory.capacity_bytes),
            "bank_pim_bw_bytes_per_s": peak_bandwidths(system.geometry)["bank_pim_bw_bytes_per_s"]}


def base_host(memory_preset: str) -> tuple[int, int, float]:
    """Ranksets, rows per bank and chip density (Gb) of the memory preset the scaling starts from."""
    from l3sim.spec.dram import load_memory

    memory = load_memory(memory_preset)
    organisation = memory.dram.organisation
    return memory.num_ranksets, organisation.rows, organisation.chip_density_gbit
