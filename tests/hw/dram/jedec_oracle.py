"""An independent DRAM rule oracle: the minimum gap between every ordered pair of commands, as test data.

Written from the JEDEC tables (JESD79-4 section 13 "AC timing" and the DDR4 speed-bin tables; JESD79-5
tables 302-316 for the DDR5 write-to-write timings), not from ``l3sim.hw.dram.rules``; the PIM rows follow
the choices stated in docs/dram.md ("The PIM commands and why their rules are what they are").

Each row: earlier command, later command, then the gap for four relations between the two commands:

- ``SB``: same bank; ``SG``: same bank group, other bank; ``DG``: other bank group of the same rank;
- ``DR``: another rank of the same channel.

A pair with a rank-wide command (PREA, REF, PIM_MAC, PIM_WR_SB, PIM_WR_R, PIM_RD_RB) has no bank relation,
so its three same-rank columns hold one value. ``-`` is no constraint beyond the command bus (tCMD between
any two commands of a channel) and the four-activate window (tFAW), which the oracle scheduler adds on its own.
Pairs not listed have no constraint. Shorthands: ``RTW`` = CL + tBL + bus_turnaround - CWL (read to write
on a data bus: JESD79-4 tRTW = RL + BL/2 - WL + 2 tCK with a 1 tCK preamble, the "2" being bus_turnaround);
``WEND`` = CWL + tBL (the last write beat).
"""

from __future__ import annotations

from l3sim.hw.dram.commands import Cmd
from l3sim.spec.dram import DRAMTiming

RELATIONS = ("SB", "SG", "DG", "DR")
RANK_WIDE = {"PREA", "REF", "PIM_MAC", "PIM_WR_SB", "PIM_WR_R", "PIM_RD_RB"}

# earlier      later        SB                     SG                     DG                     DR
TABLE = """
ACT          ACT          tRC                    tRRD_L                 tRRD_S                 -
ACT          PRE          tRAS                   -                      -                      -
ACT          PREA         tRAS                   tRAS                   tRAS                   -
ACT          RD           tRCD                   -                      -                      -
ACT          WR           tRCD                   -                      -                      -
ACT          PIM_LD_SB    tRCD                   -                      -                      -
ACT          REF          tRC                    tRC                    tRC                    -
ACT          PIM_MAC      tRCD                   tRCD                   tRCD                   -
PRE          ACT          tRP                    -                      -                      -
PRE          REF          tRP                    tRP                    tRP                    -
PREA         ACT          tRP                    tRP                    tRP                    -
PREA         REF          tRP                    tRP                    tRP                    -
RD           PRE          tRTP                   -                      -                      -
RD           PREA         tRTP                   tRTP                   tRTP                   -
RD           RD           tCCD_L                 tCCD_L                 tCCD_S                 tBL+tRTRS
RD           WR           max(tCCD_L,RTW)        max(tCCD_L,RTW)        max(tCCD_S,RTW)        max(RTW,CL+tBL+tRTRS-CWL)
RD           PIM_LD_SB    tCCD_L                 tCCD_L                 tCCD_S                 -
RD           PIM_MAC      tCCD_L                 tCCD_L                 tCCD_L                 -
RD           PIM_WR_SB    RTW                    RTW                    RTW                    -
RD           PIM_WR_R     RTW                    RTW                    RTW                    -
RD           PIM_RD_RB    tBL                    tBL                    tBL                    -
WR           PRE          WEND+tWR               -                      -                      -
WR           PREA         WEND+tWR               WEND+tWR               WEND+tWR               -
WR           RD           WEND+tWTR_L            WEND+tWTR_L            WEND+tWTR_S            max(0,WEND+tRTRS-CL)
WR           WR           tCCD_L_WR              tCCD_L_WR              tCCD_S_WR              tBL+tRTRS_WW
WR           PIM_LD_SB    WEND+tWTR_L            WEND+tWTR_L            WEND+tWTR_S            -
WR           PIM_MAC      WEND+tWTR_L            WEND+tWTR_L            WEND+tWTR_L            -
WR           PIM_WR_SB    tBL                    tBL                    tBL                    -
WR           PIM_WR_R     tBL                    tBL                    tBL                    -
WR           PIM_RD_RB    max(tBL,WEND+bus_turnaround-CL)  max(tBL,WEND+bus_turnaround-CL)  max(tBL,WEND+bus_turnaround-CL)  -
PIM_LD_SB    PRE          tRTP                   -                      -                      -
PIM_LD_SB    PREA         tRTP                   tRTP                   tRTP                   -
PIM_LD_SB    RD           tCCD_L                 tCCD_L                 tCCD_S                 -
PIM_LD_SB    WR           tCCD_L                 tCCD_L                 tCCD_S                 -
PIM_LD_SB    PIM_LD_SB    tCCD_L                 tCCD_L                 tCCD_S                 -
PIM_LD_SB    PIM_MAC      tCCD_L                 tCCD_L                 tCCD_L                 -
PIM_MAC      PIM_MAC      tCCD_L                 tCCD_L                 tCCD_L                 -
PIM_MAC      RD           tCCD_L                 tCCD_L                 tCCD_L                 -
PIM_MAC      WR           tCCD_L                 tCCD_L                 tCCD_L                 -
PIM_MAC      PIM_LD_SB    tCCD_L                 tCCD_L                 tCCD_L                 -
PIM_MAC      PRE          tRTP                   tRTP                   tRTP                   -
PIM_MAC      PREA         tRTP                   tRTP                   tRTP                   -
PIM_WR_SB    WR           tBL                    tBL                    tBL                    -
PIM_WR_SB    PIM_WR_SB    tBL                    tBL                    tBL                    -
PIM_WR_SB    PIM_WR_R     tBL                    tBL                    tBL                    -
PIM_WR_SB    RD           max(tBL,WEND+bus_turnaround-CL)  max(tBL,WEND+bus_turnaround-CL)  max(tBL,WEND+bus_turnaround-CL)  -
PIM_WR_SB    PIM_RD_RB    max(tBL,WEND+bus_turnaround-CL)  max(tBL,WEND+bus_turnaround-CL)  max(tBL,WEND+bus_turnaround-CL)  -
PIM_WR_R     WR           tBL                    tBL                    tBL                    -
PIM_WR_R     PIM_WR_SB    tBL                    tBL                    tBL                    -
PIM_WR_R     PIM_WR_R     tBL                    tBL                    tBL                    -
PIM_WR_R     RD           max(tBL,WEND+bus_turnaround-CL)  max(tBL,WEND+bus_turnaround-CL)  max(tBL,WEND+bus_turnaround-CL)  -
PIM_WR_R     PIM_RD_RB    max(tBL,WEND+bus_turnaround-CL)  max(tBL,WEND+bus_turnaround-CL)  max(tBL,WEND+bus_turnaround-CL)  -
PIM_RD_RB    RD           tBL                    tBL                    tBL                    -
PIM_RD_RB    PIM_RD_RB    tBL                    tBL                    tBL                    -
PIM_RD_RB    WR           RTW                    RTW                    RTW                    -
PIM_RD_RB    PIM_WR_SB    RTW                    RTW                    RTW                    -
PIM_RD_RB    PIM_WR_R     RTW                    RTW                    RTW                    -
"""
REF_BLOCKS = "tRFC"  # JESD79-4: after REF the rank takes no command for tRFC (every later command, same rank)


def _rows() -> list[tuple[str, str, tuple[str, ...]]]:
    rows = []
    for line in TABLE.strip().splitlines():
        earlier, later, *gaps = line.split()
        assert len(gaps) == 4, line
        rows.append((earlier, later, tuple(gaps)))
    rows += [("REF", c.name, (REF_BLOCKS,) * 3 + ("-",)) for c in Cmd]
    return rows


def _value(expression: str, t: DRAMTiming) -> int:
    if expression == "-":
        return 0
    names = t.model_dump()
    names.update(tCCD_S_WR=t.ccd_s_wr, tCCD_L_WR=t.ccd_l_wr, RTW=t.CL + t.tBL + t.bus_turnaround - t.CWL,
                 WEND=t.CWL + t.tBL, max=max)
    return int(eval(expression, {"__builtins__": {}}, names))  # the table's own formulas, nothing else


def min_gaps(t: DRAMTiming) -> dict[tuple[Cmd, Cmd, str], int]:
    """Gap (tCK) for every (earlier, later, relation), 0 where the table has no constraint."""
    out = {(a, b, rel): 0 for a in Cmd for b in Cmd for rel in RELATIONS}
    for earlier, later, gaps in _rows():
        if earlier in RANK_WIDE or later in RANK_WIDE:
            assert gaps[0] == gaps[1] == gaps[2], f"{earlier}->{later}: a rank-wide pair has one same-rank gap"
        for rel, expression in zip(RELATIONS, gaps):
            key = (Cmd[earlier], Cmd[later], rel)
            out[key] = max(out[key], _value(expression, t))
    return out


def relation(a: dict, b: dict) -> str | None:
    """The relation of two commands given as dicts of address fields; None for different channels."""
    if a["channel"] != b["channel"]:
        return None
    if a["rank"] != b["rank"]:
        return "DR"
    if Cmd(a["cmd"]).name in RANK_WIDE or Cmd(b["cmd"]).name in RANK_WIDE:
        return "SB"
    if a["bank_group"] != b["bank_group"]:
        return "DG"
    return "SB" if a["bank"] == b["bank"] else "SG"


def earliest_in_order(commands: list[dict], t: DRAMTiming) -> list[int]:
    """Issue cycles of an in-order controller that obeys only the oracle: each command at the earliest cycle
    after every earlier command's gap, tCMD after the previous command of its channel and tFAW after the
    fourth-last ACT of its rank. Quadratic; for short streams."""
    gaps = min_gaps(t)
    times: list[int] = []
    for i, b in enumerate(commands):
        earliest = 0
        acts = []
        for j in range(i):
            a = commands[j]
            rel = relation(a, b)
            if rel is None:
                continue
            earliest = max(earliest, times[j] + gaps[(Cmd(a["cmd"]), Cmd(b["cmd"]), rel)], times[j] + t.tCMD)
            if a["cmd"] == Cmd.ACT and rel != "DR":
                acts.append(times[j])
        if b["cmd"] == Cmd.ACT and len(acts) >= 4:
            earliest = max(earliest, sorted(acts)[-4] + t.tFAW)
        times.append(earliest)
    return times


def violations(commands: list[dict], times, t: DRAMTiming) -> list[str]:
    """Every pair (and every five-ACT window) of an issued schedule that breaks the oracle's gaps."""
    gaps = min_gaps(t)
    horizon = max(max(gaps.values()), t.tCMD)  # pairs further apart than every gap cannot break one
    order = sorted(range(len(commands)), key=lambda i: times[i])
    out = []
    for pos, i in enumerate(order):
        b = commands[i]
        first = pos
        while first > 0 and times[i] - times[order[first - 1]] < horizon:
            first -= 1
        for j in order[first:pos]:
            a = commands[j]
            rel = relation(a, b)
            if rel is None:
                continue
            need = max(gaps[(Cmd(a["cmd"]), Cmd(b["cmd"]), rel)], t.tCMD)
            if times[i] - times[j] < need:
                out.append(f"{Cmd(a['cmd']).name}@{times[j]} -> {Cmd(b['cmd']).name}@{times[i]} ({rel}): "
                           f"gap {times[i] - times[j]} < {need}")
    acts: dict[tuple, list[int]] = {}
    for i in order:
        if commands[i]["cmd"] == Cmd.ACT:
            key = (commands[i]["channel"], commands[i]["rank"])
            acts.setdefault(key, []).append(times[i])
    for key, ts in acts.items():
        out += [f"tFAW {key}: ACTs at {ts[k]} and {ts[k + 4]}" for k in range(len(ts) - 4) if ts[k + 4] - ts[k] < t.tFAW]
    return out
