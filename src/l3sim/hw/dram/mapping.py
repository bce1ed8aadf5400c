"""Address mapping: byte addresses to (channel, rank, bank group, bank, row, column), by named schemes.

A scheme is an order of the six fields from the most to the least significant
bits, written as DRAMsim3 writes it: six two-letter codes (``ch`` channel,
``ra`` rank, ``bg`` bank group, ``ba`` bank, ``ro`` row, ``co`` column), e.g.
``rochrababgco``. The lowest log2(transaction bytes) bits are the offset inside
one burst (64 B for DDR4 x64 BL8 and a DDR5 x32 BL16 sub-channel) and are
dropped first; each field then takes log2(its count) bits, the last code the
lowest. Column counts bursts (columns / burst_length), as Ramulator 2 and
DRAMsim3 both do. Ramulator 2's linear mappers are accepted by name:
``RoBaRaCoCh`` (its default: channel lowest, then column, rank, bank group,
bank, row) and ``ChRaBaRoCo`` (column lowest). Field counts must be powers of
two, as both simulators require.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from l3sim.errors import ConfigError
from l3sim.spec.dram import DRAMSpec

CODES = {"ch": "channel", "ra": "rank", "bg": "bank_group", "ba": "bank", "ro": "row", "co": "col"}
NAMED = {
    "RoBaRaCoCh": "robabgracoch",  # Ramulator 2 default (linear_mappers.cpp)
    "ChRaBaRoCo": "chrabgbaroco",  # Ramulator 2
    "rochrababgco": "rochrababgco",  # DRAMsim3's DDR4 configs
    "chrobabgraco": "chrobabgraco",  # DRAMsim3's built-in default
}
DEFAULT_SCHEME = "RoBaRaCoCh"


def _log2(count: int, what: str) -> int:
    if count < 1 or count & (count - 1):
        raise ConfigError(f"address mapping: {what} = {count} is not a power of two")
    return count.bit_length() - 1


@dataclass(frozen=True)
class AddressMapping:
    """Field bit positions for one scheme on one memory (``channels`` bus channels of ``ranks`` ranks)."""

    scheme: str
    offset_bits: int
    shift: dict[str, int]  # field -> lowest bit (after dropping the offset)
    width: dict[str, int]  # field -> bits

    @classmethod
    def build(cls, scheme: str, dram: DRAMSpec, channels: int, ranks: int) -> "AddressMapping":
        order = NAMED.get(scheme, scheme)
        codes = [order[i:i + 2] for i in range(0, len(order), 2)]
        if len(order) != 12 or sorted(codes) != sorted(CODES):
            raise ConfigError(f"address mapping {scheme!r}: expected one of {', '.join(NAMED)} or six two-letter "
                              f"fields {'/'.join(CODES)} in any order, most significant first (DRAMsim3 style)")
        org = dram.organisation
        counts = {"channel": channels, "rank": ranks, "bank_group": org.bank_groups, "bank": org.banks_per_group,
                  "row": org.rows, "col": org.column_accesses_per_row}
        width = {name: _log2(count, name) for name, count in counts.items()}
        shift, position = {}, 0
        for code in reversed(codes):
            shift[CODES[code]] = position
            position += width[CODES[code]]
        return cls(scheme, _log2(org.burst_bytes_per_rank, "burst bytes"), shift, width)

    @property
    def capacity_bytes(self) -> int:
        return 1 << (self.offset_bits + sum(self.width.values()))

    def decode(self, address: np.ndarray) -> dict[str, np.ndarray]:
        """Fields of each byte address (int64 array); addresses wrap at the capacity, as in both simulators."""
        unit = np.asarray(address, dtype=np.int64) >> self.offset_bits
        return {name: (unit >> self.shift[name]) & ((1 << self.width[name]) - 1) for name in CODES.values()}

    def encode(self, **fields) -> np.ndarray:
        """Byte address of the given fields (arrays or scalars; missing fields 0), offset 0."""
        unit = np.zeros(np.broadcast(*fields.values()).shape if fields else (), np.int64)
        for name, value in fields.items():
            unit = unit | (np.asarray(value, dtype=np.int64) << self.shift[name])
        return unit << self.offset_bits
