"""The in-order (FIFO) issue loop over flat arrays: plain Python that numba compiles unchanged.

``fifo_issue`` is the hot loop of ``engine.simulate(policy="fifo")``. It is
written once: the "python" backend calls it as it is, the "numba" backend calls
``numba.njit(cache=True)(fifo_issue)``; the helpers are ``register_jitable`` so
they run as Python in the first case and are compiled inline in the second.

State, all indexed by flat ids (rank = channel x ranks_per_channel + rank,
bank group = rank x groups + group, bank = rank x banks + bank within rank):

- ``ready_*[id, c]``: earliest cycle command c may issue, per scope, raised by
  every issued command through the rule table (``rules.RuleTable``);
- ``faw[rank, 0:4]``: the last four ACT times of each rank (ring, oldest at ``faw_pos``);
- ``open_row[bank]`` (-1: closed), ``open_count[rank]``: the bank state machines;
- ``last_issue[channel]``: the command bus (tCMD apart) and in-order issue.

Refresh: each rank is due a REF every tREFI, the first at ``first_ref``. When the next command of a
channel would issue at or after a rank's due time, the controller precharges
that rank (PREA, if a bank is open), issues REF, and re-opens the rows it
closed (ACT, in bank order), all under the same rules; these commands are
recorded in the ``ins_*`` arrays.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba.extending import register_jitable

from l3sim.hw.dram.commands import Cmd

ACT, PRE, PREA, REF, PIM_MAC = int(Cmd.ACT), int(Cmd.PRE), int(Cmd.PREA), int(Cmd.REF), int(Cmd.PIM_MAC)
RD, WR, PIM_LD_SB = int(Cmd.RD), int(Cmd.WR), int(Cmd.PIM_LD_SB)

OK, ERR_ACT_OPEN, ERR_ROW_CLOSED, ERR_MAC_CLOSED, ERR_REF_OPEN, ERR_CAPACITY = 0, 1, 2, 3, 4, 5
NEVER = -(1 << 50)


@register_jitable(inline="always")
def _earliest(c, is_bank, ch, rk, bg, bk, last_issue, t_cmd, ready_chan, ready_rank, ready_bg, ready_bank,
              faw, faw_pos, t_faw):
    common = max(last_issue[ch] + t_cmd, ready_chan[ch, c], ready_rank[rk, c])
    bank_level = max(ready_bg[bg, c], ready_bank[bk, c]) if is_bank else common
    window = faw[rk, faw_pos[rk]] + t_faw if c == ACT else common
    return max(common, bank_level, window)


@register_jitable(inline="always")
def _commit(c, t, ch, rk, bg, bk, ranks_per_channel, rule_start, rule_later, rule_scope, rule_gap, last_issue,
            ready_chan, ready_rank, ready_bg, ready_bank, faw, faw_pos):
    for k in range(rule_start[c], rule_start[c + 1]):
        n = rule_later[k]
        v = t + rule_gap[k]
        s = rule_scope[k]
        if s == 0:
            if v > ready_bank[bk, n]:
                ready_bank[bk, n] = v
        elif s == 1:
            if v > ready_bg[bg, n]:
                ready_bg[bg, n] = v
        elif s == 2:
            if v > ready_rank[rk, n]:
                ready_rank[rk, n] = v
        elif s == 3:
            first = ch * ranks_per_channel
            for other in range(first, first + ranks_per_channel):
                if other != rk and v > ready_rank[other, n]:
                    ready_rank[other, n] = v
        else:
            if v > ready_chan[ch, n]:
                ready_chan[ch, n] = v
    last_issue[ch] = t
    if c == ACT:
        faw[rk, faw_pos[rk]] = t
        faw_pos[rk] = 0 if faw_pos[rk] == 3 else faw_pos[rk] + 1


@register_jitable(inline="always")
def _close_rank(rk, t, t_rp, banks_per_rank, open_row, open_count, open_since, busy):
    for bk in range(rk * banks_per_rank, (rk + 1) * banks_per_rank):
        if open_row[bk] >= 0:
            busy[bk] += t + t_rp - open_since[bk]
            open_row[bk] = -1
    open_count[rk] = 0


@register_jitable(inline="always")
def _record(n_ins, c, rk, local_bank, row, t, ins_cmd, ins_rank, ins_bank, ins_row, ins_time):
    """Write one controller-inserted command; returns the new count."""
    ins_cmd[n_ins] = c
    ins_rank[n_ins] = rk
    ins_bank[n_ins] = local_bank
    ins_row[n_ins] = row
    ins_time[n_ins] = t
    return n_ins + 1


class FifoStream(NamedTuple):
    """The commands, in issue order: code and flat ids (int64 arrays of one length)."""

    cmd: np.ndarray
    chan: np.ndarray
    rank: np.ndarray  # flat: channel x ranks_per_channel + rank
    bgroup: np.ndarray  # flat: rank x groups + group
    bank: np.ndarray  # flat: rank x banks + bank within the rank
    row: np.ndarray


class FifoRules(NamedTuple):
    """The timing rules as data (``rules.RuleTable``) and what each command code is."""

    is_bank_cmd: np.ndarray  # per code: addresses one bank
    start: np.ndarray  # rules of code c: start[c] .. start[c + 1]
    later: np.ndarray
    scope: np.ndarray
    gap: np.ndarray
    occupancy: np.ndarray  # per code: cycles until the command's effect ends (the schedule's end)


class FifoOrg(NamedTuple):
    """How many of each, for the flat ids."""

    n_channels: int
    ranks_per_channel: int
    groups_per_rank: int
    banks_per_group: int


class FifoTiming(NamedTuple):
    """The timings the loop uses outside the rule table, and refresh: each rank's first REF is due at
    ``first_ref``, then every ``t_refi`` (``refresh`` False: no REF is inserted)."""

    t_cmd: int
    t_faw: int
    t_rp: int
    t_rfc: int
    t_refi: int
    first_ref: int
    refresh: bool


class FifoOutput(NamedTuple):
    """What the loop fills: each command's issue cycle, each bank's busy cycles, and the inserted commands
    (PREA/REF/ACT of refresh, the ``ins_*`` arrays, of one capacity)."""

    issue: np.ndarray
    busy: np.ndarray
    ins_cmd: np.ndarray
    ins_rank: np.ndarray
    ins_bank: np.ndarray
    ins_row: np.ndarray
    ins_time: np.ndarray


def fifo_issue(stream: FifoStream, rules: FifoRules, org: FifoOrg, timing: FifoTiming, out: FifoOutput):
    """Issue ``stream.cmd[i]`` in order per channel; fill ``out``; return (status, index, inserted, end).

    ``status`` is OK or an ERR_* code for command ``index`` (ERR_CAPACITY: the ``ins_*`` arrays are too
    short; the caller retries with longer ones). The bundles are unpacked once here, so the loop below works
    on plain locals, as before they were bundled (numba passes named tuples of arrays by value).
    """
    cmd, chan, rank, bgroup, bank, row = stream
    is_bank_cmd, rule_start, rule_later, rule_scope, rule_gap, occupancy = rules
    n_channels, ranks_per_channel, groups_per_rank, banks_per_group = org
    t_cmd, t_faw, t_rp, t_rfc, t_refi, first_ref, refresh = timing
    issue, busy, ins_cmd, ins_rank, ins_bank, ins_row, ins_time = out
    n_ranks = n_channels * ranks_per_channel
    banks_per_rank = groups_per_rank * banks_per_group
    n_cmds = rule_start.shape[0] - 1
    ready_chan = np.zeros((n_channels, n_cmds), np.int64)
    ready_rank = np.zeros((n_ranks, n_cmds), np.int64)
    ready_bg = np.zeros((n_ranks * groups_per_rank, n_cmds), np.int64)
    ready_bank = np.zeros((n_ranks * banks_per_rank, n_cmds), np.int64)
    faw = np.full((n_ranks, 4), NEVER, np.int64)
    faw_pos = np.zeros(n_ranks, np.int64)
    last_issue = np.full(n_channels, -t_cmd, np.int64)
    open_row = np.full(n_ranks * banks_per_rank, -1, np.int64)
    open_since = np.zeros(n_ranks * banks_per_rank, np.int64)
    open_count = np.zeros(n_ranks, np.int64)
    next_ref = np.full(n_ranks, first_ref, np.int64)
    chan_next_ref = np.full(n_channels, first_ref, np.int64)  # the earliest due time of the channel's ranks
    reopen = np.zeros(banks_per_rank, np.int64)
    reopen_row = np.zeros(banks_per_rank, np.int64)
    n_ins = 0
    end = 0
    for i in range(cmd.shape[0]):
        c = cmd[i]
        ch = chan[i]
        rk = rank[i]
        bg = bgroup[i]
        bk = bank[i]
        is_bank = is_bank_cmd[c]
        t = _earliest(c, is_bank, ch, rk, bg, bk, last_issue, t_cmd, ready_chan, ready_rank, ready_bg, ready_bank,
                      faw, faw_pos, t_faw)
        due = refresh and chan_next_ref[ch] <= t
        while due:
            due = False
            for r2 in range(ch * ranks_per_channel, (ch + 1) * ranks_per_channel):
                if next_ref[r2] > t:
                    continue
                due = True
                if n_ins + banks_per_rank + 2 > ins_cmd.shape[0]:
                    return ERR_CAPACITY, i, n_ins, end
                n_open = 0
                for local in range(banks_per_rank):
                    if open_row[r2 * banks_per_rank + local] >= 0:
                        reopen[n_open] = local
                        reopen_row[n_open] = open_row[r2 * banks_per_rank + local]
                        n_open += 1
                # PREA (if a bank is open) and REF, written out here: as a compiled call taking the arrays it
                # slowed the whole loop by about a third (measured)
                for step in range(2):
                    cc = PREA if step == 0 else REF
                    if cc == PREA and n_open == 0:
                        continue
                    tt = max(next_ref[r2], _earliest(cc, False, ch, r2, 0, 0, last_issue, t_cmd, ready_chan,
                                                      ready_rank, ready_bg, ready_bank, faw, faw_pos, t_faw))
                    _commit(cc, tt, ch, r2, 0, 0, ranks_per_channel, rule_start, rule_later, rule_scope, rule_gap,
                            last_issue, ready_chan, ready_rank, ready_bg, ready_bank, faw, faw_pos)
                    if cc == PREA:
                        _close_rank(r2, tt, t_rp, banks_per_rank, open_row, open_count, open_since, busy)
                    else:
                        for b2 in range(r2 * banks_per_rank, (r2 + 1) * banks_per_rank):
                            busy[b2] += t_rfc
                    end = max(end, tt + occupancy[cc])
                    n_ins = _record(n_ins, cc, r2, 0, 0, tt, ins_cmd, ins_rank, ins_bank, ins_row, ins_time)
                for j in range(n_open):
                    b2 = r2 * banks_per_rank + reopen[j]
                    g2 = r2 * groups_per_rank + reopen[j] // banks_per_group
                    tt = _earliest(ACT, True, ch, r2, g2, b2, last_issue, t_cmd, ready_chan, ready_rank, ready_bg,
                                   ready_bank, faw, faw_pos, t_faw)
                    _commit(ACT, tt, ch, r2, g2, b2, ranks_per_channel, rule_start, rule_later, rule_scope,
                            rule_gap, last_issue, ready_chan, ready_rank, ready_bg, ready_bank, faw, faw_pos)
                    open_row[b2] = reopen_row[j]
                    open_since[b2] = tt
                    open_count[r2] += 1
                    end = max(end, tt + occupancy[ACT])
                    n_ins = _record(n_ins, ACT, r2, reopen[j], reopen_row[j], tt, ins_cmd, ins_rank, ins_bank,
                                    ins_row, ins_time)
                next_ref[r2] += t_refi
            chan_next_ref[ch] = next_ref[ch * ranks_per_channel:(ch + 1) * ranks_per_channel].min()
            if due:
                t = _earliest(c, is_bank, ch, rk, bg, bk, last_issue, t_cmd, ready_chan, ready_rank, ready_bg,
                              ready_bank, faw, faw_pos, t_faw)
        # bank state machines
        if c == ACT:
            if open_row[bk] >= 0:
                return ERR_ACT_OPEN, i, n_ins, end
            open_row[bk] = row[i]
            open_since[bk] = t
            open_count[rk] += 1
        elif c == PRE:
            if open_row[bk] >= 0:
                busy[bk] += t + t_rp - open_since[bk]
                open_row[bk] = -1
                open_count[rk] -= 1
        elif c == PREA:
            _close_rank(rk, t, t_rp, banks_per_rank, open_row, open_count, open_since, busy)
        elif c == RD or c == WR or c == PIM_LD_SB:
            if open_row[bk] != row[i]:
                return ERR_ROW_CLOSED, i, n_ins, end
        elif c == PIM_MAC:
            if open_count[rk] != banks_per_rank:
                return ERR_MAC_CLOSED, i, n_ins, end
        elif c == REF:
            if open_count[rk] != 0:
                return ERR_REF_OPEN, i, n_ins, end
            for b2 in range(rk * banks_per_rank, (rk + 1) * banks_per_rank):
                busy[b2] += t_rfc
            if refresh:
                next_ref[rk] += t_refi
                chan_next_ref[ch] = next_ref[ch * ranks_per_channel:(ch + 1) * ranks_per_channel].min()
        _commit(c, t, ch, rk, bg, bk, ranks_per_channel, rule_start, rule_later, rule_scope, rule_gap, last_issue,
                ready_chan, ready_rank, ready_bg, ready_bank, faw, faw_pos)
        issue[i] = t
        end = max(end, t + occupancy[c])
    for bk in range(open_row.shape[0]):
        if open_row[bk] >= 0:
            busy[bk] += end - open_since[bk]
    return OK, -1, n_ins, end
