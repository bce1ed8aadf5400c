"""The timing rules between commands, as data: (earlier command, later command, scope, minimum gap).

One table drives both the engine (``engine``) and the independent checker
(``checker``); docs/dram.md prints it. Rules come from JESD79-4/-5 and the
Ramulator 2 DDR4/DDR5 rule lists for the standard commands, and from the
choices in docs/dram.md for the PIM commands. Three rules are not pairwise and
are handled by both engine and checker on their own: the four-activate window
(tFAW), the command bus (tCMD between commands of a channel), and the bank
state (a column command needs its row open, ACT needs the bank closed, ...).

Scopes (``Scope``) say which pairs a rule binds: the same bank, the same bank
group, the same rank, another rank of the same channel, or any rank of the
same channel. A rule at bank or bank-group scope only joins commands that
address one bank; anything involving a rank-wide command is a rank rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from l3sim.hw.dram.commands import BANK_COMMANDS, NUM_CMDS, Cmd
from l3sim.spec.dram import DRAMTiming


class Scope(IntEnum):
    BANK = 0  # same bank
    BANK_GROUP = 1  # same bank group of the same rank (the same bank included)
    RANK = 2  # same rank
    OTHER_RANK = 3  # a different rank of the same channel
    CHANNEL = 4  # any rank of the same channel


@dataclass(frozen=True)
class Rule:
    earlier: Cmd
    later: Cmd
    scope: Scope
    gap: int  # minimum cycles from the earlier command's issue to the later one's
    why: str


READS_ARRAY = (Cmd.RD, Cmd.PIM_LD_SB)  # column reads of one bank's cells
COLUMN = (Cmd.RD, Cmd.WR, Cmd.PIM_LD_SB)  # single-bank column commands
BUS_READS = (Cmd.RD, Cmd.PIM_RD_RB)  # the chips drive the rank bus (data CL after the command)
BUS_WRITES = (Cmd.WR, Cmd.PIM_WR_SB, Cmd.PIM_WR_R)  # the chips receive on the rank bus (data CWL after)
RANK_WIDE_AFTER_REF = tuple(Cmd)  # a refreshing rank accepts nothing for tRFC


def timing_rules(t: DRAMTiming) -> list[Rule]:
    """Every pairwise rule of one speed bin; rules whose gap is not positive are left out."""
    write_end = t.CWL + t.tBL  # last write data beat on the bus
    read_to_write = t.CL + t.tBL + t.bus_turnaround - t.CWL
    write_to_read_bus = t.CWL + t.tBL + t.bus_turnaround - t.CL
    rules: list[Rule] = []

    def add(earlier, later, scope: Scope, gap: int, why: str) -> None:
        for a in earlier if isinstance(earlier, tuple) else (earlier,):
            for b in later if isinstance(later, tuple) else (later,):
                if gap > 0:
                    rules.append(Rule(Cmd(a), Cmd(b), scope, int(gap), why))

    # ---- one bank (JESD79-4 / -5 core timing)
    add(Cmd.ACT, Cmd.ACT, Scope.BANK, t.tRC, "tRC")
    add(Cmd.ACT, COLUMN, Scope.BANK, t.tRCD, "tRCD")
    add(Cmd.ACT, Cmd.PRE, Scope.BANK, t.tRAS, "tRAS")
    add(Cmd.PRE, Cmd.ACT, Scope.BANK, t.tRP, "tRP")
    add(READS_ARRAY, Cmd.PRE, Scope.BANK, t.tRTP, "tRTP")
    add(Cmd.WR, Cmd.PRE, Scope.BANK, write_end + t.tWR, "CWL + tBL + tWR")
    # ---- bank group
    add(Cmd.ACT, Cmd.ACT, Scope.BANK_GROUP, t.tRRD_L, "tRRD_L")
    add(COLUMN, READS_ARRAY, Scope.BANK_GROUP, t.tCCD_L, "tCCD_L")
    add(READS_ARRAY, Cmd.WR, Scope.BANK_GROUP, t.tCCD_L, "tCCD_L")
    add(Cmd.WR, Cmd.WR, Scope.BANK_GROUP, t.ccd_l_wr, "tCCD_L_WR")
    add(Cmd.WR, READS_ARRAY, Scope.BANK_GROUP, write_end + t.tWTR_L, "CWL + tBL + tWTR_L")
    # ---- rank: core
    add(Cmd.ACT, Cmd.ACT, Scope.RANK, t.tRRD_S, "tRRD_S")
    add(COLUMN, READS_ARRAY, Scope.RANK, t.tCCD_S, "tCCD_S")
    add(READS_ARRAY, Cmd.WR, Scope.RANK, t.tCCD_S, "tCCD_S")
    add(Cmd.WR, Cmd.WR, Scope.RANK, t.ccd_s_wr, "tCCD_S_WR")
    add(Cmd.WR, READS_ARRAY, Scope.RANK, write_end + t.tWTR_S, "CWL + tBL + tWTR_S")
    add(Cmd.ACT, Cmd.PREA, Scope.RANK, t.tRAS, "tRAS (PREA closes every bank)")
    add(READS_ARRAY, Cmd.PREA, Scope.RANK, t.tRTP, "tRTP (PREA)")
    add(Cmd.WR, Cmd.PREA, Scope.RANK, write_end + t.tWR, "CWL + tBL + tWR (PREA)")
    add(Cmd.PREA, Cmd.ACT, Scope.RANK, t.tRP, "tRP (after PREA)")
    add(Cmd.ACT, Cmd.REF, Scope.RANK, t.tRC, "tRC (ACT to REF)")
    add((Cmd.PRE, Cmd.PREA), Cmd.REF, Scope.RANK, t.tRP, "tRP (precharge to REF)")
    add(Cmd.REF, RANK_WIDE_AFTER_REF, Scope.RANK, t.tRFC, "tRFC")
    # ---- rank: PIM_MAC reads one column of every bank (an all-bank column read)
    add(Cmd.ACT, Cmd.PIM_MAC, Scope.RANK, t.tRCD, "tRCD (PIM_MAC needs every row open)")
    add(Cmd.PIM_MAC, Cmd.PIM_MAC, Scope.RANK, t.tCCD_L, "tCCD_L (one column per bank per tCCD_L)")
    add(Cmd.PIM_MAC, COLUMN, Scope.RANK, t.tCCD_L, "tCCD_L (PIM_MAC uses every bank group)")
    add(READS_ARRAY, Cmd.PIM_MAC, Scope.RANK, t.tCCD_L, "tCCD_L (PIM_MAC uses every bank group)")
    add(Cmd.WR, Cmd.PIM_MAC, Scope.RANK, write_end + t.tWTR_L, "CWL + tBL + tWTR_L (write to an all-bank read)")
    add(Cmd.PIM_MAC, (Cmd.PRE, Cmd.PREA), Scope.RANK, t.tRTP, "tRTP (after PIM_MAC)")
    # ---- rank bus: the DQ pins between the rank's chips and the buffer chip (host and PIM transfers)
    add(BUS_READS, BUS_READS, Scope.RANK, t.tBL, "tBL (rank bus)")
    add(BUS_WRITES, BUS_WRITES, Scope.RANK, t.tBL, "tBL (rank bus)")
    add(BUS_READS, BUS_WRITES, Scope.RANK, read_to_write, "CL + tBL + turnaround - CWL (rank bus)")
    add(BUS_WRITES, BUS_READS, Scope.RANK, max(t.tBL, write_to_read_bus), "rank bus, write to read")
    # ---- channel bus: host transfers of all ranks of the channel
    add(Cmd.RD, Cmd.RD, Scope.CHANNEL, t.tBL, "tBL (channel bus)")
    add(Cmd.WR, Cmd.WR, Scope.CHANNEL, t.tBL, "tBL (channel bus)")
    add(Cmd.RD, Cmd.WR, Scope.CHANNEL, read_to_write, "CL + tBL + turnaround - CWL (channel bus)")
    # ---- rank switch on the channel bus, by command pair (data of the two ranks tRTRS apart)
    add(Cmd.RD, Cmd.RD, Scope.OTHER_RANK, t.tBL + t.tRTRS, "tBL + tRTRS (rank switch)")
    add(Cmd.RD, Cmd.WR, Scope.OTHER_RANK, t.CL + t.tBL + t.tRTRS - t.CWL, "CL + tBL + tRTRS - CWL (rank switch)")
    add(Cmd.WR, Cmd.RD, Scope.OTHER_RANK, write_end + t.tRTRS - t.CL, "CWL + tBL + tRTRS - CL (rank switch)")
    add(Cmd.WR, Cmd.WR, Scope.OTHER_RANK, t.tBL + t.tRTRS_WW, "tBL + tRTRS_WW (rank switch)")
    _check_scopes(rules)
    return rules


def _check_scopes(rules: list[Rule]) -> None:
    for rule in rules:
        if rule.scope in (Scope.BANK, Scope.BANK_GROUP):
            if rule.earlier not in BANK_COMMANDS or rule.later not in BANK_COMMANDS:
                raise AssertionError(f"rule {rule} joins a rank-wide command at bank scope")


def occupancy_cycles(t: DRAMTiming) -> np.ndarray:
    """Cycles after its issue until a command's effect is over, indexed by Cmd (for total_cycles)."""
    out = np.zeros(NUM_CMDS, dtype=np.int64)
    out[Cmd.ACT] = t.tRCD
    out[Cmd.PRE] = out[Cmd.PREA] = t.tRP
    out[Cmd.RD] = out[Cmd.PIM_RD_RB] = t.CL + t.tBL
    out[Cmd.WR] = out[Cmd.PIM_WR_SB] = out[Cmd.PIM_WR_R] = t.CWL + t.tBL
    out[Cmd.REF] = t.tRFC
    out[Cmd.PIM_LD_SB] = out[Cmd.PIM_MAC] = t.tCCD_L
    return out


@dataclass(frozen=True)
class RuleTable:
    """The rules as arrays grouped by earlier command (CSR): rules of command c are start[c]:start[c+1]."""

    start: np.ndarray
    later: np.ndarray
    scope: np.ndarray
    gap: np.ndarray


def rule_table(t: DRAMTiming, later: tuple[Cmd, ...] | None = None) -> RuleTable:
    """The rules as arrays; ``later``: keep only rules whose later command is one of these (a controller that
    never issues the other commands skips raising their ready times; its schedules are the same)."""
    rules = sorted((r for r in timing_rules(t) if later is None or r.later in later), key=lambda r: int(r.earlier))
    earlier = np.array([int(r.earlier) for r in rules], dtype=np.int64)
    start = np.searchsorted(earlier, np.arange(NUM_CMDS + 1)).astype(np.int64)
    return RuleTable(
        start=start,
        later=np.array([int(r.later) for r in rules], dtype=np.int64),
        scope=np.array([int(r.scope) for r in rules], dtype=np.int64),
        gap=np.array([r.gap for r in rules], dtype=np.int64),
    )
