"""An independent check of a schedule: every timing rule, every pair of commands, and the bank protocol.

It shares only the rule *table* (``rules.timing_rules``) with the engine, not
its code: the engine raises ready times as it goes; the checker takes the
finished schedule (the stream's commands and the ones the controller added)
and, for every rule (A, B, scope, gap), compares every command B with every
command A issued before it in the same scope. For a fixed rule the binding
pair is B with the latest such A, so comparing with that one is the same as
comparing with all of them; it is found by sorting, without any state machine.
Besides the pairwise rules it checks the four-activate window, the command
bus (tCMD between any two commands of a channel), the bank protocol (ACT to a
closed bank, column commands to the open row, PIM_MAC with every bank open,
REF with every bank closed) and, for the FIFO policy, in-order issue.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from l3sim.hw.dram.commands import FIELDS, Cmd, CommandStream, concatenate
from l3sim.hw.dram.rules import Scope, timing_rules
from l3sim.spec.dram import DRAMSpec

TIME_BITS = 40  # schedules shorter than 2**40 cycles (about 11 minutes of DDR4-3200)


@dataclass(frozen=True)
class Violation:
    """One broken rule: ``later`` issued ``actual`` cycles after ``earlier``; the rule needs ``required``."""

    rule: str
    earlier: str
    later: str
    required: int
    actual: int

    def __str__(self) -> str:
        return f"{self.rule}: {self.earlier} -> {self.later}: gap {self.actual} < {self.required}"


class _Listing:
    """The stream's commands and the inserted ones, with their issue cycles and printable names."""

    def __init__(self, stream: CommandStream, schedule) -> None:
        self.commands = concatenate([stream, schedule.inserted])
        self.time = np.concatenate([schedule.issue_cycle, schedule.inserted_cycle]).astype(np.int64)
        self.n_stream = len(stream)

    def name(self, i: int) -> str:
        c = self.commands
        where = f"stream[{i}]" if i < self.n_stream else f"inserted[{i - self.n_stream}]"
        return (f"{where} {Cmd(int(c.cmd[i])).name} @{int(self.time[i])} ch{int(c.channel[i])} rank{int(c.rank[i])} "
                f"bg{int(c.bank_group[i])} bank{int(c.bank[i])} row{int(c.row[i])}")


def _scope_key(c: CommandStream, scope: Scope, dram: DRAMSpec, ranks_per_channel: int) -> np.ndarray:
    org = dram.organisation
    key = c.channel.astype(np.int64)
    if scope in (Scope.RANK, Scope.BANK_GROUP, Scope.BANK):
        key = key * ranks_per_channel + c.rank
    if scope in (Scope.BANK_GROUP, Scope.BANK):
        key = key * org.bank_groups + c.bank_group
    if scope == Scope.BANK:
        key = key * org.banks_per_group + c.bank
    return key


def _latest_before(key_a, time_a, key_b, time_b):
    """For each B: index into A of the latest A with the same key and an earlier time, or -1."""
    packed_a = (key_a << TIME_BITS) + time_a
    order = np.argsort(packed_a, kind="stable")
    pos = np.searchsorted(packed_a[order], (key_b << TIME_BITS) + time_b, side="left") - 1
    found = np.full(len(key_b), -1, np.int64)
    ok = pos >= 0
    cand = order[np.clip(pos, 0, None)]
    ok &= key_a[cand] == key_b
    found[ok] = cand[ok]
    return found


def _pairwise(listing: _Listing, dram: DRAMSpec, ranks_per_channel: int) -> list[Violation]:
    c, time = listing.commands, listing.time
    out = []
    for rule in timing_rules(dram.timing):
        a = np.flatnonzero(c.cmd == rule.earlier)
        b = np.flatnonzero(c.cmd == rule.later)
        if not len(a) or not len(b):
            continue
        if rule.scope == Scope.OTHER_RANK:
            chan_a, chan_b = c.channel[a].astype(np.int64), c.channel[b].astype(np.int64)
            best = np.full(len(b), -1, np.int64)
            for r in range(ranks_per_channel):
                sub = a[c.rank[a] == r]
                if not len(sub):
                    continue
                found = _latest_before(chan_a[c.rank[a] == r], time[sub], chan_b, time[b])
                cand = np.where(found >= 0, sub[np.clip(found, 0, None)], -1)
                better = (cand >= 0) & (c.rank[b] != r) & ((best < 0) | (time[np.clip(cand, 0, None)] > time[best]))
                best = np.where(better, cand, best)
        else:
            key = _scope_key(c, rule.scope, dram, ranks_per_channel)
            found = _latest_before(key[a], time[a], key[b], time[b])
            best = np.where(found >= 0, a[np.clip(found, 0, None)], -1)
        has = best >= 0
        gaps = time[b] - time[np.clip(best, 0, None)]
        for j in np.flatnonzero(has & (gaps < rule.gap)):
            out.append(Violation(f"{rule.why} [{rule.earlier.name}->{rule.later.name}, {rule.scope.name}]",
                                 listing.name(int(best[j])), listing.name(int(b[j])), rule.gap, int(gaps[j])))
    return out


def _windows(listing: _Listing, dram: DRAMSpec, ranks_per_channel: int) -> list[Violation]:
    """tFAW between the k-th and (k+4)-th ACT of a rank; tCMD between neighbours on a channel."""
    c, time, timing = listing.commands, listing.time, dram.timing
    out = []
    acts = np.flatnonzero(c.cmd == Cmd.ACT)
    rank_key = c.channel[acts].astype(np.int64) * ranks_per_channel + c.rank[acts]
    for key in np.unique(rank_key):
        idx = acts[rank_key == key]
        idx = idx[np.argsort(time[idx], kind="stable")]
        for k in np.flatnonzero(time[idx[4:]] - time[idx[:-4]] < timing.tFAW):
            out.append(Violation("tFAW [five ACTs in one window, RANK]", listing.name(int(idx[k])),
                                 listing.name(int(idx[k + 4])), timing.tFAW, int(time[idx[k + 4]] - time[idx[k]])))
    for ch in np.unique(c.channel):
        idx = np.flatnonzero(c.channel == ch)
        idx = idx[np.argsort(time[idx], kind="stable")]
        for k in np.flatnonzero(np.diff(time[idx]) < timing.tCMD):
            out.append(Violation("tCMD [command bus, CHANNEL]", listing.name(int(idx[k])), listing.name(int(idx[k + 1])),
                                 timing.tCMD, int(time[idx[k + 1]] - time[idx[k]])))
    return out


def _protocol(listing: _Listing, dram: DRAMSpec, ranks_per_channel: int) -> list[Violation]:
    """Replay the bank states in time order."""
    c, time, org = listing.commands, listing.time, dram.organisation
    open_row: dict[tuple, int] = {}
    out = []
    rows = {name: getattr(c, name).tolist() for name in FIELDS}
    for i in np.argsort(time, kind="stable").tolist():
        cmd = Cmd(rows["cmd"][i])
        rank = (rows["channel"][i], rows["rank"][i])
        bank = rank + (rows["bank_group"][i], rows["bank"][i])
        in_rank = [k for k in open_row if k[:2] == rank]
        problem = ""
        if cmd == Cmd.ACT:
            problem = "ACT to an open bank" if bank in open_row else ""
            open_row[bank] = rows["row"][i]
        elif cmd == Cmd.PRE:
            open_row.pop(bank, None)
        elif cmd == Cmd.PREA:
            for k in in_rank:
                del open_row[k]
        elif cmd in (Cmd.RD, Cmd.WR, Cmd.PIM_LD_SB):
            problem = "column command without its row open" if open_row.get(bank) != rows["row"][i] else ""
        elif cmd == Cmd.PIM_MAC:
            problem = "PIM_MAC without every bank open" if len(in_rank) != org.banks_per_chip else ""
        elif cmd == Cmd.REF:
            problem = "REF with a bank open" if in_rank else ""
        if problem:
            out.append(Violation(f"protocol: {problem}", "", listing.name(i), 0, 0))
    return out


def _in_order(listing: _Listing) -> list[Violation]:
    c, time = listing.commands, listing.time
    out = []
    for ch in np.unique(c.channel[: listing.n_stream]):
        idx = np.flatnonzero(c.channel[: listing.n_stream] == ch)
        for k in np.flatnonzero(np.diff(time[idx]) < 0):
            out.append(Violation("FIFO: issued out of order", listing.name(int(idx[k])), listing.name(int(idx[k + 1])),
                                 0, int(time[idx[k + 1]] - time[idx[k]])))
    return out


def check(stream: CommandStream, schedule, dram: DRAMSpec, ranks_per_channel: int,
          policy: str = "fifo") -> list[Violation]:
    """Every violation in ``schedule`` (an ``engine.Schedule``, or anything with the same four fields)."""
    listing = _Listing(stream, schedule)
    found = _pairwise(listing, dram, ranks_per_channel) + _windows(listing, dram, ranks_per_channel)
    found += _protocol(listing, dram, ranks_per_channel)
    if policy == "fifo":
        found += _in_order(listing)
    return found
