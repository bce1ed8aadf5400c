"""A deliberately plain in-order command timer: the test oracle of the closed-form segment durations.

It knows only the rules the closed form assumes (JEDEC DDR4 bank, bank-group and
four-activate rules; PIM_MAC as an all-bank column read spaced tCCD_L; PIM_RD_RB
and PIM_WR_SB as bursts on the rank bus and nothing else), one command per cycle,
each as early as those rules allow and never before the previous one. No
refresh. It is slow and obvious on purpose; the DRAM area's engine is the real
reference (tests/hw/pim/test_pim_engine_agreement.py).
"""

from __future__ import annotations

from l3sim.hw.pim.ops import CMD_NAMES

NEVER = -(10**9)


def issue_cycles(cmds, banks, g) -> list[int]:
    """Issue cycle of every command of a program (``ops.Segment`` arrays) on rank geometry ``g``."""
    n_banks = g.banks_per_chip
    act = [NEVER] * n_banks
    pre = [NEVER] * n_banks
    last_read = [NEVER] * n_banks
    write_end = [NEVER] * n_banks
    acts: list[int] = []
    last_act_bg = [NEVER] * g.bank_groups
    last_col_bg = [NEVER] * g.bank_groups
    last_col = last_mac = last_bus = NEVER
    t_prev = -1
    out = []
    for code, b in zip(cmds, banks):
        name = CMD_NAMES[code]
        bg = b % g.bank_groups
        t = t_prev + 1
        if name == "ACT":
            t = max(t, pre[b] + g.trp, act[b] + g.tras + g.trp, last_act_bg[bg] + g.trrd_l)
            if acts:
                t = max(t, acts[-1] + g.trrd_s)
            if len(acts) >= 4:
                t = max(t, acts[-4] + g.tfaw)
            act[b] = t
            acts.append(t)
            last_act_bg[bg] = t
        elif name in ("PRE", "PREA"):
            which = range(n_banks) if name == "PREA" else [b]
            for k in which:
                t = max(t, act[k] + g.tras, last_read[k] + g.trtp, write_end[k] + g.twr)
            for k in which:
                pre[k] = t
        elif name in ("RD", "WR", "PIM_LD_SB"):
            t = max(t, act[b] + g.trcd, last_col + g.tccd_s, last_col_bg[bg] + g.tccd_l)
            if name != "PIM_LD_SB":
                t = max(t, last_bus + g.burst_cycles)
                last_bus = t
            last_col = t
            last_col_bg[bg] = t
            if name == "WR":
                write_end[b] = t + g.cwl + g.burst_cycles
            else:
                last_read[b] = t
        elif name == "PIM_MAC":
            t = max(t, max(act) + g.trcd, last_mac + g.tccd_l)
            last_mac = t
            last_read = [t] * n_banks
        else:  # PIM_RD_RB, PIM_WR_SB: the rank bus only
            t = max(t, last_bus + g.burst_cycles)
            last_bus = t
        out.append(t)
        t_prev = t
    return out


def program_cycles(segment, g) -> int:
    """Cycles from the first command to the point the next program could start its first ACT."""
    times = issue_cycles(segment.cmd.tolist(), segment.bank.tolist(), g)
    return times[-1] + g.trp  # every program ends with a PREA (or a read-out after one)
