"""The numbers of one rank that the PIM kernels depend on, read once from the host-memory spec.

Keeping them in one small frozen dataclass gives the program builder and the
closed-form model the same view of the hardware, and isolates this package
from the layout of the DRAM area's spec classes.
"""

from __future__ import annotations

from dataclasses import dataclass




@dataclass(frozen=True)
class RankGeometry:
    """One rank of the host memory: organisation and the timing parameters, in clock cycles."""

    tck_s: float
    chips_per_rank: int
    banks_per_chip: int
    bank_groups: int
    burst_bytes_per_chip: int  # bytes one chip moves in one burst (device width x burst length / 8)
    row_bursts: int  # bursts (column accesses) in one row of one bank of one chip
    rows_per_bank: int
    channels: int
    ranks_per_channel: int
    burst_cycles: int
    tccd_s: int
    tccd_l: int
    trcd: int
    trp: int
    tras: int
    trc: int
    trtp: int
    twr: int
    cwl: int
    cl: int
    trrd_s: int
    trrd_l: int
    tfaw: int
    trfc: int
    trefi: int

    @property
    def burst_bytes_per_rank(self) -> int:
        """Bytes one burst moves over the rank's 64-bit bus."""
        return self.burst_bytes_per_chip * self.chips_per_rank

    @property
    def rank_capacity_bytes(self) -> int:
        """Bytes one rank stores: chips x banks x rows x row size."""
        return self.chips_per_rank * self.banks_per_chip * self.rows_per_bank * self.row_bursts * self.burst_bytes_per_chip

    @property
    def ranks(self) -> int:
        return self.channels * self.ranks_per_channel

    @property
    def channel_bw_bytes_per_s(self) -> float:
        """Peak of one channel (= one rank's bus): one burst per burst duration."""
        return self.burst_bytes_per_rank / (self.burst_cycles * self.tck_s)

    @property
    def bank_pu_bw_bytes_per_s(self) -> float:
        """Peak of one bank PU: one column of its bank per tCCD_L (paper section II)."""
        return self.burst_bytes_per_chip / (self.tccd_l * self.tck_s)


def rank_geometry(memory) -> RankGeometry:
    """Read a ``HostMemorySpec`` (the DRAM area's spec) into a RankGeometry; a RankGeometry passes through."""
    if isinstance(memory, RankGeometry):
        return memory
    return _from_host_memory(memory)


def _from_host_memory(memory) -> RankGeometry:
    """One bus channel's rank of a HostMemorySpec: a DDR5 rank counts once per 32-bit sub-channel (each has its
    own chips, bus and, for PIM, buffer-chip logic)."""
    dram = memory.dram
    org, t = dram.organisation, dram.timing
    return RankGeometry(
        tck_s=dram.tck_s, chips_per_rank=org.chips_per_rank, banks_per_chip=org.banks_per_chip,
        bank_groups=org.bank_groups, burst_bytes_per_chip=org.column_bytes_per_chip,
        row_bursts=org.column_accesses_per_row, rows_per_bank=org.rows, channels=memory.bus_channels,
        ranks_per_channel=memory.ranks_per_channel, burst_cycles=t.tBL, tccd_s=t.tCCD_S, tccd_l=t.tCCD_L,
        trcd=t.tRCD, trp=t.tRP, tras=t.tRAS, trc=t.tRC, trtp=t.tRTP, twr=t.tWR, cwl=t.CWL, cl=t.CL, trrd_s=t.tRRD_S,
        trrd_l=t.tRRD_L, tfaw=t.tFAW, trfc=t.tRFC, trefi=t.tREFI,
    )
