"""FR-FCFS for host traffic: an open-page controller that turns RD/WR requests into ACT/PRE/RD/WR.

The stream holds requests (RD or WR with their addresses), all waiting from
cycle 0, in arrival order. Per channel the controller looks at the oldest
``QUEUE_DEPTH`` unserved requests; each needs its column command (row hit),
an ACT (bank closed) or a PRE (another row open; not while a queued request
still hits that row). Of the commands that can issue earliest, a row hit goes
first, else the oldest request's command (first-ready, first-come-first-
served). Rows stay open until a miss needs the bank (open page). Refresh: a
due rank is precharged (PREA) and refreshed (REF); rows are re-opened by the
requests that need them. Rules, helpers and state are those of ``fifo_kernel``.
"""

from __future__ import annotations

import numpy as np

from l3sim.hw.dram import fifo_kernel as fk
from l3sim.hw.dram.commands import IS_BANK_COMMAND, Cmd, CommandStream

QUEUE_DEPTH = 32  # requests the scheduler looks at (Ramulator 2's default read queue is 32)


def frfcfs_issue(req_cmd, rank, bgroup, bank, row, is_bank_cmd, ranks_per_channel, groups_per_rank, banks_per_group,
                 rule_start, rule_later, rule_scope, rule_gap, occupancy, t_cmd, t_faw, t_rp, t_rfc, t_refi, refresh,
                 queue_depth, issue, busy, ins_cmd, ins_rank, ins_bank, ins_row, ins_time):
    """One channel (flat ids local to it); returns (status, index, inserted, end) as ``fifo_issue`` does."""
    n_cmds = rule_start.shape[0] - 1
    banks_per_rank = groups_per_rank * banks_per_group
    n_banks = ranks_per_channel * banks_per_rank
    ready_chan = np.zeros((1, n_cmds), np.int64)
    ready_rank = np.zeros((ranks_per_channel, n_cmds), np.int64)
    ready_bg = np.zeros((ranks_per_channel * groups_per_rank, n_cmds), np.int64)
    ready_bank = np.zeros((n_banks, n_cmds), np.int64)
    faw = np.full((ranks_per_channel, 4), fk.NEVER, np.int64)
    faw_pos = np.zeros(ranks_per_channel, np.int64)
    last_issue = np.full(1, -t_cmd, np.int64)
    open_row = np.full(n_banks, -1, np.int64)
    open_since = np.zeros(n_banks, np.int64)
    open_count = np.zeros(ranks_per_channel, np.int64)
    next_ref = np.full(ranks_per_channel, t_refi, np.int64)
    queue = np.zeros(queue_depth, np.int64)
    cand_cmd = np.zeros(queue_depth, np.int64)
    cand_t = np.zeros(queue_depth, np.int64)
    n_req = req_cmd.shape[0]
    n_queue = 0
    next_req = 0
    n_ins = 0
    end = 0
    while n_queue > 0 or next_req < n_req:
        while n_queue < queue_depth and next_req < n_req:
            queue[n_queue] = next_req
            n_queue += 1
            next_req += 1
        best_t = fk.NEVER
        for q in range(n_queue):
            i = queue[q]
            b = bank[i]
            c = req_cmd[i]
            if open_row[b] < 0:
                c = fk.ACT
            elif open_row[b] != row[i]:
                c = fk.PRE
                for q2 in range(n_queue):
                    if bank[queue[q2]] == b and row[queue[q2]] == open_row[b]:
                        c = -1  # a queued request still hits the open row
            cand_cmd[q] = c
            if c >= 0:
                cand_t[q] = fk._earliest(c, is_bank_cmd[c], 0, rank[i], bgroup[i], b, last_issue, t_cmd, ready_chan,
                                         ready_rank, ready_bg, ready_bank, faw, faw_pos, t_faw)
                if best_t == fk.NEVER or cand_t[q] < best_t:
                    best_t = cand_t[q]
        if refresh and next_ref.min() <= best_t:
            r2 = np.argmin(next_ref)
            if n_ins + 2 > ins_cmd.shape[0]:
                return fk.ERR_CAPACITY, -1, n_ins, end
            n_ins, end = fk._precharge_and_refresh(
                0, r2, next_ref[r2], n_ins, end, ranks_per_channel, banks_per_rank, rule_start, rule_later,
                rule_scope, rule_gap, occupancy, t_cmd, t_faw, t_rp, t_rfc, last_issue, ready_chan, ready_rank,
                ready_bg, ready_bank, faw, faw_pos, open_row, open_count, open_since, busy, ins_cmd, ins_rank,
                ins_bank, ins_row, ins_time)
            next_ref[r2] += t_refi
            continue
        pick = -1
        for q in range(n_queue):  # the oldest row hit ready first, else the oldest ready command
            if cand_cmd[q] >= 0 and cand_t[q] == best_t:
                if pick < 0 or (cand_cmd[q] != fk.ACT and cand_cmd[q] != fk.PRE and
                                (cand_cmd[pick] == fk.ACT or cand_cmd[pick] == fk.PRE)):
                    pick = q
        i = queue[pick]
        c = cand_cmd[pick]
        b = bank[i]
        fk._commit(c, best_t, 0, rank[i], bgroup[i], b, ranks_per_channel, rule_start, rule_later, rule_scope,
                   rule_gap, last_issue, ready_chan, ready_rank, ready_bg, ready_bank, faw, faw_pos)
        end = max(end, best_t + occupancy[c])
        if c == fk.ACT or c == fk.PRE:
            if n_ins + 1 > ins_cmd.shape[0]:
                return fk.ERR_CAPACITY, -1, n_ins, end
            if c == fk.ACT:
                open_row[b] = row[i]
                open_since[b] = best_t
                open_count[rank[i]] += 1
            else:
                busy[b] += best_t + t_rp - open_since[b]
                open_row[b] = -1
                open_count[rank[i]] -= 1
            n_ins = fk._record(n_ins, c, rank[i], b - rank[i] * banks_per_rank, row[i] if c == fk.ACT else 0, best_t,
                               ins_cmd, ins_rank, ins_bank, ins_row, ins_time)
        else:
            issue[i] = best_t
            for q in range(pick, n_queue - 1):
                queue[q] = queue[q + 1]
            n_queue -= 1
    for b in range(n_banks):
        if open_row[b] >= 0:
            busy[b] += end - open_since[b]
    return fk.OK, -1, n_ins, end


def run_frfcfs(stream: CommandStream, dram, ranks_per_channel: int, refresh: bool, backend: str, run_kernel):
    """Each channel on its own; returns what ``engine`` needs (issue, end, busy, inserted stream, inserted cycles).

    ``run_kernel(kernel_name, python_function, *args)`` calls the numba or Python version (engine provides it).
    """
    from l3sim.hw.dram.engine import CommandStreamError
    from l3sim.hw.dram.rules import occupancy_cycles, rule_table

    bad = np.flatnonzero((stream.cmd != Cmd.RD) & (stream.cmd != Cmd.WR))
    if len(bad):
        raise CommandStreamError(f"command stream: command {int(bad[0])}: policy 'frfcfs' takes RD/WR requests only, "
                                 f"got {Cmd(int(stream.cmd[bad[0]])).name} ({len(bad)} such commands)")
    org, timing = dram.organisation, dram.timing
    table = rule_table(timing)
    n_channels = int(stream.channel.max()) + 1 if len(stream) else 1
    banks_per_rank = org.banks_per_chip
    issue = np.zeros(len(stream), np.int64)
    busy = np.zeros((n_channels, ranks_per_channel * banks_per_rank), np.int64)
    parts, times, end = [], [], 0
    for ch in range(n_channels):
        idx = np.flatnonzero(stream.channel == ch)
        sub = stream.take(idx)
        rank = sub.rank.astype(np.int64)
        group = rank * org.bank_groups + sub.bank_group
        bank = group * org.banks_per_group + sub.bank
        capacity = 2 * len(idx) + 64
        while True:
            sub_issue = np.zeros(len(idx), np.int64)
            sub_busy = np.zeros(ranks_per_channel * banks_per_rank, np.int64)
            ins = [np.zeros(capacity, np.int64) for _ in range(5)]
            status, _, n_ins, sub_end = run_kernel(
                "frfcfs", frfcfs_issue, sub.cmd.astype(np.int64), rank, group, bank, sub.row, IS_BANK_COMMAND,
                ranks_per_channel, org.bank_groups, org.banks_per_group, table.start, table.later, table.scope,
                table.gap, occupancy_cycles(timing), timing.tCMD, timing.tFAW, timing.tRP, timing.tRFC, timing.tREFI,
                bool(refresh), QUEUE_DEPTH, sub_issue, sub_busy, *ins)
            if status != fk.ERR_CAPACITY:
                break
            capacity *= 2
        issue[idx] = sub_issue
        busy[ch] = sub_busy
        end = max(end, int(sub_end))
        c, r, b, rw, t = (a[:n_ins] for a in ins)
        parts.append(CommandStream(cmd=c, channel=ch, rank=r, bank_group=b // org.banks_per_group,
                                   bank=b % org.banks_per_group, row=rw, col=0))
        times.append(t)
    from l3sim.hw.dram.commands import concatenate

    return issue, end, busy.reshape(-1), concatenate(parts), np.concatenate(times) if times else np.zeros(0, np.int64)
