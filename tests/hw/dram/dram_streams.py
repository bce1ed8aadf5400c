"""Protocol-correct command streams for the DRAM engine tests: random (seeded) and structured."""

from __future__ import annotations

import numpy as np

from l3sim.hw.dram.commands import Cmd, CommandStream, StreamBuilder
from l3sim.spec.dram import DRAMSpec
from l3sim.spec.presets import load_preset_data


def dram_preset(name: str) -> DRAMSpec:
    return DRAMSpec.parse(*load_preset_data("dram", name))


def random_stream(seed: int, n: int, dram: DRAMSpec, channels: int, ranks: int, pim: bool = True) -> CommandStream:
    """``n`` commands that respect the bank protocol (rows opened before use, PIM_MAC with every bank open)."""
    rng = np.random.default_rng(seed)
    org = dram.organisation
    banks = org.banks_per_chip
    open_row = {}  # (ch, rank, flat bank) -> row
    out = []
    kinds = [Cmd.RD, Cmd.WR, Cmd.PRE, Cmd.PREA, Cmd.ACT] + ([Cmd.PIM_LD_SB, Cmd.PIM_WR_SB, Cmd.PIM_RD_RB,
                                                           Cmd.PIM_WR_R, Cmd.PIM_MAC, Cmd.REF] if pim else [])
    while len(out) < n:
        ch, rk, flat = int(rng.integers(channels)), int(rng.integers(ranks)), int(rng.integers(banks))
        bg, bk = flat % org.bank_groups, flat // org.bank_groups
        kind = kinds[int(rng.integers(len(kinds)))]
        key = (ch, rk, flat)
        n_open = sum(1 for k in open_row if k[:2] == (ch, rk))
        if kind == Cmd.ACT or (kind in (Cmd.RD, Cmd.WR, Cmd.PIM_LD_SB) and key not in open_row):
            if key in open_row:
                out.append((Cmd.PRE, ch, rk, bg, bk, 0, 0))
                del open_row[key]
            row = int(rng.integers(4))
            out.append((Cmd.ACT, ch, rk, bg, bk, row, 0))
            open_row[key] = row
            if kind == Cmd.ACT:
                continue
        if kind in (Cmd.RD, Cmd.WR, Cmd.PIM_LD_SB):
            out.append((kind, ch, rk, bg, bk, open_row[key], int(rng.integers(org.column_accesses_per_row))))
        elif kind == Cmd.PRE:
            out.append((kind, ch, rk, bg, bk, 0, 0))
            open_row.pop(key, None)
        elif kind in (Cmd.PREA, Cmd.REF):
            if kind == Cmd.REF and n_open:
                out.append((Cmd.PREA, ch, rk, 0, 0, 0, 0))
            out.append((kind, ch, rk, 0, 0, 0, 0))
            for k in [k for k in open_row if k[:2] == (ch, rk)]:
                del open_row[k]
        elif kind == Cmd.PIM_MAC:
            for b in range(banks):
                if (ch, rk, b) not in open_row:
                    out.append((Cmd.ACT, ch, rk, b % org.bank_groups, b // org.bank_groups, 1, 0))
                    open_row[(ch, rk, b)] = 1
            for _ in range(int(rng.integers(1, 6))):
                out.append((kind, ch, rk, 0, 0, 0, int(rng.integers(org.column_accesses_per_row))))
        else:
            out.append((kind, ch, rk, 0, 0, 0, 0))
    cols = list(zip(*out[:n]))
    return CommandStream(*(np.array(col) for col in cols))


def mac_rounds(dram: DRAMSpec, rounds: int, macs: int, rank: int = 0, channel: int = 0) -> CommandStream:
    """``rounds`` row-rounds: ACT every bank, ``macs`` PIM_MACs along the row, PREA."""
    org = dram.organisation
    flat = np.arange(org.banks_per_chip)
    b = StreamBuilder()
    for r in range(rounds):
        b.add(Cmd.ACT, channel, rank, flat % org.bank_groups, flat // org.bank_groups, r)
        b.add(Cmd.PIM_MAC, channel, rank, 0, 0, r, np.arange(macs) % org.column_accesses_per_row)
        b.add(Cmd.PREA, channel, rank, count=1)
    return b.build()
