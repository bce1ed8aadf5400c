"""DRAM specs: one DDR4/DDR5 device type (organisation and timing) and the host memory built from it.

``DRAMSpec`` describes a DIMM type: its standard, data rate, the organisation of
one rank (chips, banks, rows, columns, burst) and its timing, every timing
field in clock cycles (tCK) as JEDEC tables and the L3 paper give them.
``HostMemorySpec`` puts DIMMs of one type into a host: channels, DIMMs per
channel, ranks per DIMM. Derived numbers (capacity, bus widths, peak
bandwidths) are properties, never typed in twice.

Words used throughout:

- *bus channel*: one independent command/address + data bus. DDR4: a DIMM
  channel (64 bits). DDR5: each DIMM channel is two independent 32-bit
  sub-channels (JESD79-5), so one DIMM channel holds two bus channels; the
  timing engine (``l3sim.hw.dram``) simulates bus channels.
- *rank*: the chips of one DIMM that answer one chip select; on DDR5 a rank
  spans both sub-channels, ``chips_per_rank`` counts the chips on one of them.
- *column access*: one burst of one chip, ``device_width_bits x burst_length``
  bits (8 bytes for DDR4 x8 BL8, 16 bytes for DDR5 x8 BL16).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, model_validator

from l3sim.spec.base import Spec
from l3sim.spec.presets import preset_ref

GBIT = 2**30  # JEDEC densities are binary: a "16 Gb" chip holds 2**34 bits


class DRAMOrganisation(Spec):
    """The organisation of one rank of a DIMM type (per bus channel) and of its chips."""

    subchannels: int = Field(1, ge=1, description="independent buses per DIMM channel: 1 for DDR4, 2 for DDR5")
    chips_per_rank: int = Field(ge=1, description="data chips of one rank on one bus channel (ECC chips excluded)")
    device_width_bits: int = Field(ge=1, description="DQ pins per chip (x4, x8, x16)")
    bank_groups: int = Field(ge=1, description="bank groups per chip")
    banks_per_group: int = Field(ge=1, description="banks per bank group")
    rows: int = Field(ge=1, description="rows per bank")
    columns: int = Field(ge=1, description="column addresses per row (each device_width_bits wide)")
    burst_length: int = Field(ge=1, description="beats per burst (BL8 for DDR4, BL16 for DDR5)")
    chip_density_gbit: float = Field(gt=0, description="chip capacity in Gb (2**30 bits), as the datasheet names it")

    @model_validator(mode="after")
    def _check_consistency(self) -> "DRAMOrganisation":
        problems = []
        bits = self.rows * self.columns * self.device_width_bits * self.bank_groups * self.banks_per_group
        if bits != self.chip_density_gbit * GBIT:
            problems.append(
                f"chip_density_gbit ({self.chip_density_gbit:g} Gb) must equal rows x columns x device_width_bits x "
                f"bank_groups x banks_per_group = {self.rows} x {self.columns} x {self.device_width_bits} x "
                f"{self.bank_groups} x {self.banks_per_group} = {bits / GBIT:g} Gb"
            )
        if self.columns % self.burst_length:
            problems.append(f"columns ({self.columns}) must be a multiple of burst_length ({self.burst_length})")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def banks_per_chip(self) -> int:
        return self.bank_groups * self.banks_per_group

    @property
    def chip_capacity_bytes(self) -> int:
        return self.rows * self.columns * self.device_width_bits * self.banks_per_chip // 8

    @property
    def column_bytes_per_chip(self) -> int:
        """Bytes one column access (one burst) moves on one chip."""
        return self.device_width_bits * self.burst_length // 8

    @property
    def column_accesses_per_row(self) -> int:
        """Bursts in one row of one bank of one chip (the engine's column index runs over these)."""
        return self.columns // self.burst_length

    @property
    def row_bytes_per_chip(self) -> int:
        """Page size of one chip."""
        return self.columns * self.device_width_bits // 8

    @property
    def rank_bus_bits(self) -> int:
        """Width of one bus channel (the data pins of one rank's chips on it)."""
        return self.chips_per_rank * self.device_width_bits

    @property
    def burst_bytes_per_rank(self) -> int:
        """Bytes one burst moves over one bus channel (64 for DDR4 x64 BL8 and for DDR5 x32 BL16)."""
        return self.rank_bus_bits * self.burst_length // 8


class DRAMTiming(Spec):
    """Timing of one speed bin, every field but ``tCK_ns`` in clock cycles (tCK)."""

    tCK_ns: float = Field(gt=0, description="clock period, ns (data rate = 2 / tCK)")
    CL: int = Field(ge=1, description="read latency: RD to first data")
    CWL: int = Field(ge=1, description="write latency: WR to first data")
    tRCD: int = Field(ge=1, description="ACT to RD/WR, same bank")
    tRP: int = Field(ge=1, description="PRE to ACT, same bank")
    tRAS: int = Field(ge=1, description="ACT to PRE, same bank")
    tRC: int = Field(ge=1, description="ACT to ACT, same bank")
    tCCD_S: int = Field(ge=1, description="column command to column command, different bank group")
    tCCD_L: int = Field(ge=1, description="column command to column command, same bank group")
    tRRD_S: int = Field(ge=1, description="ACT to ACT, different bank group of a rank")
    tRRD_L: int = Field(ge=1, description="ACT to ACT, same bank group")
    tFAW: int = Field(ge=1, description="window holding at most four ACTs of a rank")
    tWTR_S: int = Field(ge=1, description="end of write data to RD, different bank group")
    tWTR_L: int = Field(ge=1, description="end of write data to RD, same bank group")
    tWR: int = Field(ge=1, description="end of write data to PRE (write recovery)")
    tRTP: int = Field(ge=1, description="RD to PRE")
    tRFC: int = Field(ge=1, description="REF to the next command of the rank (all-bank refresh)")
    tREFI: int = Field(ge=1, description="average interval between REF commands of a rank")
    tBL: int = Field(ge=1, description="burst duration on the data bus (burst_length / 2)")
    tCCD_S_WR: int | None = Field(
        None, ge=1,
        description="WR to WR, different bank group (JESD79-5 tCCD_S_WR); None: tCCD_S (DDR4 has one tCCD_S)",
    )
    tCCD_L_WR: int | None = Field(
        None, ge=1,
        description="WR to WR, same bank group (JESD79-5 tCCD_L_WR2 for x8/x16, tCCD_L_WR for x4 with "
        "read-modify-write); None: tCCD_L (DDR4 has one tCCD_L)",
    )
    tRTRS: int = Field(
        2, ge=0,
        description="rank-to-rank switch gap on the shared channel data bus between RD->RD, RD->WR and WR->RD "
        "of different ranks. JEDEC leaves it to the controller; 2 tCK is Ramulator 2's nCS for DDR4 and DDR5",
    )
    tRTRS_WW: int = Field(
        0, ge=0,
        description="extra gap between writes to different ranks (WR->WR rank switch) on top of tBL. "
        "0 as in Ramulator 2 (no sibling-rank WR->WR rule); DRAMsim3 charges tRTRS here",
    )
    bus_turnaround: int = Field(
        2, ge=0,
        description="extra cycles when a data bus turns from read to write (read postamble + write preamble); "
        "Ramulator 2 DDR4 uses CL + BL + 2 - CWL for RD to WR",
    )
    tCMD: int = Field(
        1, ge=1,
        description="command-bus cycles per command: 1 on DDR4; DDR5 ACT/RD/WR are two-cycle commands (JESD79-5, "
        "Ramulator 2 DDR5), applied here to every command",
    )

    @model_validator(mode="after")
    def _check_jedec_relations(self) -> "DRAMTiming":
        rules = [
            (self.tRC >= self.tRAS + self.tRP, f"tRC ({self.tRC}) must be >= tRAS + tRP ({self.tRAS} + {self.tRP})"),
            (self.tRAS >= self.tRCD, f"tRAS ({self.tRAS}) must be >= tRCD ({self.tRCD})"),
            (self.tCCD_L >= self.tCCD_S, f"tCCD_L ({self.tCCD_L}) must be >= tCCD_S ({self.tCCD_S})"),
            (self.tCCD_S >= self.tBL, f"tCCD_S ({self.tCCD_S}) must be >= tBL ({self.tBL}): one burst at a time"),
            (self.tRRD_L >= self.tRRD_S, f"tRRD_L ({self.tRRD_L}) must be >= tRRD_S ({self.tRRD_S})"),
            (self.tWTR_L >= self.tWTR_S, f"tWTR_L ({self.tWTR_L}) must be >= tWTR_S ({self.tWTR_S})"),
            (self.ccd_l_wr >= self.ccd_s_wr,
             f"tCCD_L_WR ({self.ccd_l_wr}) must be >= tCCD_S_WR ({self.ccd_s_wr})"),
            (self.ccd_s_wr >= self.tBL, f"tCCD_S_WR ({self.ccd_s_wr}) must be >= tBL ({self.tBL})"),
            (self.tREFI > self.tRFC, f"tREFI ({self.tREFI}) must be > tRFC ({self.tRFC})"),
        ]
        problems = [message for ok, message in rules if not ok]
        if problems:
            raise ValueError("JEDEC timing relations violated: " + "; ".join(problems))
        return self

    @property
    def tck_s(self) -> float:
        return self.tCK_ns * 1e-9

    @property
    def ccd_s_wr(self) -> int:
        """WR to WR, other bank group: tCCD_S_WR where the standard has it (DDR5), else tCCD_S."""
        return self.tCCD_S if self.tCCD_S_WR is None else self.tCCD_S_WR

    @property
    def ccd_l_wr(self) -> int:
        """WR to WR, same bank group: tCCD_L_WR where the standard has it (DDR5), else tCCD_L."""
        return self.tCCD_L if self.tCCD_L_WR is None else self.tCCD_L_WR


class DRAMSpec(Spec):
    """A DIMM type: standard, data rate, organisation of a rank and timing."""

    name: str
    standard: Literal["DDR4", "DDR5"]
    data_rate_mts: float = Field(gt=0, description="transfers per second per pin, in MT/s")
    organisation: DRAMOrganisation
    timing: DRAMTiming
    source: str = ""

    @model_validator(mode="after")
    def _check_against_timing(self) -> "DRAMSpec":
        problems = []
        org, timing = self.organisation, self.timing
        if 2 * timing.tBL != org.burst_length:
            problems.append(
                f"timing.tBL ({timing.tBL}) must be organisation.burst_length / 2 ({org.burst_length} / 2): "
                "two beats per clock"
            )
        implied_mts = 2e3 / timing.tCK_ns
        if abs(implied_mts - self.data_rate_mts) > 0.01 * self.data_rate_mts:
            problems.append(
                f"timing.tCK_ns ({timing.tCK_ns}) implies {implied_mts:.0f} MT/s, but data_rate_mts is "
                f"{self.data_rate_mts:g}"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    # ---- derived -------------------------------------------------------------
    @property
    def tck_s(self) -> float:
        return self.timing.tck_s

    @property
    def chip_capacity_bytes(self) -> int:
        return self.organisation.chip_capacity_bytes

    @property
    def column_bytes_per_chip(self) -> int:
        """Bytes per column access per chip."""
        return self.organisation.column_bytes_per_chip

    @property
    def subchannel_bus_bits(self) -> int:
        """Width of one bus channel (64 for DDR4, 32 for a DDR5 sub-channel)."""
        return self.organisation.rank_bus_bits

    @property
    def channel_bus_bits(self) -> int:
        """Width of one DIMM channel, all its sub-channels together."""
        return self.organisation.subchannels * self.organisation.rank_bus_bits

    @property
    def rank_capacity_bytes(self) -> int:
        """One rank of a DIMM, all sub-channels."""
        org = self.organisation
        return org.subchannels * org.chips_per_rank * org.chip_capacity_bytes

    @property
    def subchannel_peak_bw_bytes_per_s(self) -> float:
        """Peak of one bus channel, which is also one rank's bus (25.6 GB/s for DDR4-3200 x64)."""
        return self.subchannel_bus_bits / 8 * self.data_rate_mts * 1e6

    @property
    def channel_peak_bw_bytes_per_s(self) -> float:
        """Peak of one DIMM channel (all sub-channels): 25.6 GB/s DDR4-3200, 38.4 GB/s DDR5-4800."""
        return self.channel_bus_bits / 8 * self.data_rate_mts * 1e6

    @property
    def bank_column_bw_bytes_per_s(self) -> float:
        """One bank of one chip read one column access per tCCD_L (paper: 8 B / 5 ns = 1.6 GB/s)."""
        return self.column_bytes_per_chip / (self.timing.tCCD_L * self.tck_s)


class HostMemorySpec(Spec):
    """The host's DIMMs: channels x DIMMs per channel x ranks per DIMM of one DIMM type."""

    name: str
    dram: Annotated[DRAMSpec, BeforeValidator(preset_ref("dram"))]
    channels: int = Field(ge=1, description="DIMM channels of the host (all sockets)")
    dimms_per_channel: int = Field(ge=1)
    ranks_per_dimm: int = Field(ge=1)
    source: str = ""

    @property
    def ranks_per_channel(self) -> int:
        """Ranks sharing one channel bus."""
        return self.dimms_per_channel * self.ranks_per_dimm

    @property
    def total_ranks(self) -> int:
        return self.channels * self.ranks_per_channel

    @property
    def num_ranksets(self) -> int:
        """A rankset is one rank of every channel (paper, section V): as many as ranks per channel."""
        return self.ranks_per_channel

    @property
    def bus_channels(self) -> int:
        """Independent buses the timing engine simulates: channels x sub-channels."""
        return self.channels * self.dram.organisation.subchannels

    @property
    def capacity_bytes(self) -> int:
        return self.total_ranks * self.dram.rank_capacity_bytes

    @property
    def cpu_bw_bytes_per_s(self) -> float:
        """Peak the host CPU can read: channels x channel peak (16 x 25.6 = 409.6 GB/s on the paper's host)."""
        return self.channels * self.dram.channel_peak_bw_bytes_per_s


def load_memory(name: str, overrides: list[str] | tuple[str, ...] = ()) -> HostMemorySpec:
    """A memory preset (or TOML file) with ``--set`` overrides applied to its fully resolved fields.

    ``dram.timing.tCCD_L=10`` reaches a field of the referenced DRAM preset.
    """
    from l3sim.spec.presets import apply_overrides, load_preset_data

    data, source = load_preset_data("memory", name)
    spec = HostMemorySpec.parse(data, source)
    if not overrides:
        return spec
    return HostMemorySpec.parse(apply_overrides(spec.model_dump(), list(overrides)), f"{source} with overrides")
