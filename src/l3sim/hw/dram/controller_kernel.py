"""The host-traffic controller loop of one bus channel: plain Python that numba compiles unchanged.

``serve`` is the hot loop of ``controller`` (docs/dram.md, "Controller for host
traffic"). Like ``fifo_kernel`` it is written once and run either as Python (the
"python" backend, for tests) or compiled by ``numba.njit`` (the "numba"
backend). It has its own rule commit (``fifo_kernel``'s takes 2-D ready tables
and branches on the scope per rule): the controller's rule table is grouped by
earlier command and scope, with the rules another rule of the same pair and a
wider scope implies left out (``controller.controller_rules``).

It is resumable: all state lives in the arrays passed in, so the caller feeds
requests in chunks (bounded memory for long traces) and empties the output
buffer when it fills. Event-driven: each step takes the earliest of (a) a due
refresh, (b) the next request's arrival, (c) the best command, and moves the
clock there; cycles in between are not visited.

Data structures (B banks of the channel, flat id = (rank x groups + group) x banks_per_group + bank; ready
tables flat, ``ready_X[id * NC + command]``):

- request pool ``req[slot, R_*]`` (read-queue depth + write-queue depth slots, free slots on a stack);
- per queue q (0 reads, 1 writes) and bank: a linked list of its requests in arrival order
  (rows Q_HEAD and Q_TAIL of ``bq``, ``req[s, R_NEXT]``), its length, and how many of them hit the bank's open
  row (Q_HITS);
- per queue, the banks with requests and their candidate commands, in dense arrays (``cand``, flat, field by
  field; ``bq``'s Q_ACTPOS row gives a bank's place): the bank, the bank-level earliest cycle of its
  candidate, where the bank-group and rank-level part is found, the tie-break key, the command and the
  request slot. A scheduling step reads these consecutive entries, one candidate per bank, and never the
  queue itself. A candidate is recomputed only when something that decides it changed (a request of that
  bank entered or left, the bank issued a command, its rank was precharged by refresh): such banks go on a
  per-queue dirty list, emptied before the queue's next scan;
- ``group_part``: per bank group and command kind, the bank-group and rank-level part (bank group, rank,
  channel, command bus, tFAW) of the earliest cycle, computed once per step, so the scan costs four loads,
  a maximum and a minimum per bank, without branches;
- per bank (``bs``): the row-hit streak since the row opened and the closed-page precharge list;
- ``ring``: data-return cycles of issued reads (at most one read per cycle is in flight for CL + tBL
  cycles, so CL + tBL + 1 entries suffice), for the time integral of reads in the system (Little's law).

Helpers taking arrays are written out in ``serve`` rather than called: numba reference-counts the arrays
passed to a function (inlined or not) on every call, which cost a fifth of the loop's time when measured.
Every computed index is written ``U(...)`` (``numpy.uint64``): for a signed index numba emits Python's
negative-index wraparound (a compare and a select on the array's length, which must be kept at hand) on
every access, for an unsigned one nothing; the kernel never indexes with a negative value (-1 marks an
empty list and is tested first). Measured on 1 M random reads: a third of the loop's time. In the Python
twin a negative index would raise (OverflowError or IndexError) instead of wrapping.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba.extending import register_jitable
from numpy import uint64 as U  # an index known not to be negative (module docstring)

from l3sim.hw.dram.commands import NUM_CMDS, Cmd

ACT, PRE, PREA, REF, RD, WR = int(Cmd.ACT), int(Cmd.PRE), int(Cmd.PREA), int(Cmd.REF), int(Cmd.RD), int(Cmd.WR)
NC = NUM_CMDS  # columns of the flat ready tables
DONE, NEED_INPUT, OUT_FULL = 0, 1, 2
INF = 1 << 62
NEVER = -(1 << 50)  # the initial tFAW window entries
HIST_BINS = 1 << 16  # read latencies are histogrammed exactly below this many cycles (p50/p99), above in one bin

# rule scopes as ``rules.Scope`` numbers them; the controller's rule table has SCOPES ranges per command
SC_BANK, SC_GROUP, SC_RANK, SC_OTHER, SC_CHANNEL = 0, 1, 2, 3, 4
SCOPES = 5
# request pool columns
R_SEQ, R_ENQ, R_BANK, R_ROW, R_COL, R_IDX, R_NEXT = 0, 1, 2, 3, 4, 5, 6
R_FIELDS = 7
# per-queue, per-bank rows of bq[q * Q_FIELDS + row, bank] (one 2-D table: no views in the loop)
Q_HEAD, Q_TAIL, Q_COUNT, Q_HITS, Q_ACTPOS, Q_DIRTY, Q_DIRTYLIST = 0, 1, 2, 3, 4, 5, 6
Q_FIELDS = 7
# per-bank rows of bs[row, bank]: hit streak, closed-page list, and the bank's rank and bank group
B_STREAK, B_CLOSEPOS, B_CLOSELIST, B_CLOSESEQ, B_RANK, B_GROUP = 0, 1, 2, 3, 4, 5
B_FIELDS = 6
# the banks with requests in queue q and their candidates, in the order of the queue's list of such banks:
# cand[K_* x 2B + q x B + k] for the k-th bank (flat, field by field, so the scan reads consecutive
# entries): the bank, its bank-level earliest cycle, its index into group_part (group x 3 + kind; kinds 0
# ACT, 1 PRE, 2 column command), tie-break key (row hits first, then arrival order: the request's sequence
# number, plus KEY_ROW_COMMAND for an ACT or PRE), command, request slot
K_BANK, K_BANK_READY, K_GROUP_AT, K_KEY, K_CMD, K_SLOT = 0, 1, 2, 3, 4, 5
K_FIELDS = 6
SEQ_LIMIT = 1 << 40  # requests per channel and run (``controller.run`` checks)
KEY_ROW_COMMAND = SEQ_LIMIT  # above any sequence number
T_SHIFT = 41  # a candidate's cycle minus now, shifted above the key
MAX_AHEAD = 1 << (63 - T_SHIFT)  # cycle - now must stay below this (``controller`` checks the timing against it)
# input columns of inp[i, col]
I_ARR, I_WRITE, I_BANK, I_ROW, I_COL, I_IDX = 0, 1, 2, 3, 4, 5
I_FIELDS = 6
# output columns of out[k, col] (recorded commands)
O_CMD, O_BANK, O_ROW, O_COL, O_TIME, O_IDX = 0, 1, 2, 3, 4, 5
O_FIELDS = 6
# configuration cfg[...]
(C_RQ, C_WQ, C_HI, C_LO, C_CAP, C_CLOSED, C_REFRESH, C_RECORD, C_FINAL, C_RANKS, C_GROUPS, C_BPG, C_TCMD, C_TFAW,
 C_TRP, C_TRFC, C_TREFI, C_RDLAT) = range(18)
C_FIELDS = 18
# scalar state sc[...]; S_PEND_REF: the rank whose REF follows the PREA just issued (-1: none)
(S_NOW, S_POS, S_SEQ, S_NQ_R, S_NQ_W, S_NACT_R, S_NACT_W, S_NCLOSE, S_NFREE, S_MODE, S_END, S_NOUT, S_RING_HEAD,
 S_RING_N, S_OCC, S_OCC_T, S_AREA, S_LAT_SUM, S_LAT_MAX, S_READS, S_WRITES, S_DRAINS, S_NDIRTY_R, S_NDIRTY_W,
 S_LAST_ISSUE, S_PEND_REF) = range(26)
S_FIELDS = 26


class ChannelState(NamedTuple):
    """One bus channel's state between calls (int64 arrays; the module docstring describes each): the
    configuration ``cfg[C_*]`` and scalar state ``sc[S_*]``, the request pool and free-slot stack, the per-bank
    queues ``bq`` and bank state ``bs``, the candidates and the per-step ``group_part`` scratch, each bank's
    open row (since when; open banks per rank), its busy cycles, each rank's next refresh, the ready tables of
    the channel, ranks, bank groups and banks, the tFAW windows, the read-return ring, the read-latency
    histogram, the issued-command counts and the output buffer of recorded commands ``out[k, O_*]``."""

    cfg: np.ndarray
    sc: np.ndarray
    req: np.ndarray
    free: np.ndarray
    bq: np.ndarray
    bs: np.ndarray
    cand: np.ndarray
    group_part: np.ndarray
    open_row: np.ndarray
    open_since: np.ndarray
    open_count: np.ndarray
    busy: np.ndarray
    next_ref: np.ndarray
    ready_chan: np.ndarray
    ready_rank: np.ndarray
    ready_bg: np.ndarray
    ready_bank: np.ndarray
    faw: np.ndarray
    faw_pos: np.ndarray
    ring: np.ndarray
    hist: np.ndarray
    cmd_count: np.ndarray
    out: np.ndarray


class ControllerRules(NamedTuple):
    """The timing rules grouped by earlier command and scope (``controller.controller_rules``): the rules of
    command c at scope s are ``start[c * SCOPES + s] : start[c * SCOPES + s + 1]`` of ``later`` and ``gap``;
    ``occupancy[c]``: cycles until command c's effect ends."""

    start: np.ndarray
    later: np.ndarray
    gap: np.ndarray
    occupancy: np.ndarray


@register_jitable(inline="always")
def _advance_occupancy(t, ring, head, n, occ, occ_t, area):
    """Integrate the number of reads in the system (queued or waiting for data) up to cycle ``t``; returns
    the new (ring head, ring length, reads in the system, integrated-up-to cycle, integral). Called when a
    read enters and when one issues."""
    n_ring = ring.shape[0]
    while n > 0 and ring[U(head)] <= t:
        r = ring[U(head)]
        area += occ * (r - occ_t)
        occ_t = r
        occ -= 1
        head += 1
        if head == n_ring:
            head = 0
        n -= 1
    if t > occ_t:
        area += occ * (t - occ_t)
        occ_t = t
    return head, n, occ, occ_t, area


def serve(inp, n_inp, state, rules):
    """Serve requests ``inp[sc[S_POS]:n_inp]`` of one channel (``state``: a ChannelState, ``rules``: its
    ControllerRules) until the input runs out (NEED_INPUT, unless ``cfg[C_FINAL]``: then until every request
    is served, DONE) or the output buffer fills (OUT_FULL). Resumable: the scalar state is read from ``sc``
    here and written back on return (kept in local variables in between, so the compiled loop holds it in
    registers).

    ``group_part[group * 3 + kind]`` is scratch: the bank-group and rank-level earliest cycle of ACT (kind 0),
    PRE (1) and the column command of the queue served (2) in each bank group, this step. The bundles are
    unpacked once here, so the loop below works on plain arrays."""
    (cfg, sc, req, free, bq, bs, cand, group_part, open_row, open_since, open_count, busy, next_ref, ready_chan,
     ready_rank, ready_bg, ready_bank, faw, faw_pos, ring, hist, cmd_count, out) = state
    rule_start, rule_later, rule_gap, occupancy = rules
    ranks = cfg[C_RANKS]
    bpg = cfg[C_BPG]
    groups = cfg[C_GROUPS]
    banks_per_rank = groups * bpg
    n_banks = ranks * banks_per_rank
    n_cand = 2 * n_banks
    t_cmd = cfg[C_TCMD]
    t_faw = cfg[C_TFAW]
    t_rp = cfg[C_TRP]
    rd_latency = cfg[C_RDLAT]
    depth_r = cfg[C_RQ]
    depth_w = cfg[C_WQ]
    record = cfg[C_RECORD] != 0
    closed = cfg[C_CLOSED] != 0
    final = cfg[C_FINAL] != 0
    refresh = cfg[C_REFRESH] != 0
    cap = cfg[C_CAP]
    n_ring = ring.shape[0]
    out_cap = out.shape[0]
    now, pos, seq = sc[S_NOW], sc[S_POS], sc[S_SEQ]
    nq_r, nq_w, na_r, na_w = sc[S_NQ_R], sc[S_NQ_W], sc[S_NACT_R], sc[S_NACT_W]
    nclose, nfree, mode, end, nout = sc[S_NCLOSE], sc[S_NFREE], sc[S_MODE], sc[S_END], sc[S_NOUT]
    rhead, rn, occ, occ_t, area = sc[S_RING_HEAD], sc[S_RING_N], sc[S_OCC], sc[S_OCC_T], sc[S_AREA]
    lat_sum, lat_max, reads, writes, drains = sc[S_LAT_SUM], sc[S_LAT_MAX], sc[S_READS], sc[S_WRITES], sc[S_DRAINS]
    nd_r, nd_w, last_issue, pend = sc[S_NDIRTY_R], sc[S_NDIRTY_W], sc[S_LAST_ISSUE], sc[S_PEND_REF]
    qf = 0
    qb = 0
    status = DONE
    while True:
        if record and nout + 1 > out_cap:
            status = OUT_FULL
            break
        if pend >= 0:
            # ---- the REF after a refresh's PREA, at once (as the PREA, at the cycle the refresh fell due)
            c = REF
            rk = pend
            pend = -1
            t = max(now, last_issue + t_cmd, ready_chan[REF], ready_rank[U(rk * NC + REF)])
            b = rk * banks_per_rank
            s = -1
        else:
            # ---- requests that have arrived by now enter while their queue has room (no command can come first)
            while pos < n_inp and inp[U(pos), I_ARR] <= now:
                q = inp[U(pos), I_WRITE]
                if q == 1:
                    if nq_w >= depth_w:
                        break
                    nq_w += 1
                else:
                    if nq_r >= depth_r:
                        break
                    nq_r += 1
                    rhead, rn, occ, occ_t, area = _advance_occupancy(now, ring, rhead, rn, occ, occ_t, area)
                    occ += 1
                b = inp[U(pos), I_BANK]
                row = inp[U(pos), I_ROW]
                nfree -= 1
                s = free[U(nfree)]
                req[U(s), R_SEQ] = seq
                req[U(s), R_ENQ] = now
                req[U(s), R_BANK] = b
                req[U(s), R_ROW] = row
                req[U(s), R_COL] = inp[U(pos), I_COL]
                req[U(s), R_IDX] = inp[U(pos), I_IDX]
                req[U(s), R_NEXT] = -1
                qf = q * Q_FIELDS
                if bq[U(qf + Q_COUNT), U(b)] == 0:
                    bq[U(qf + Q_HEAD), U(b)] = s
                    n_active = na_w if q == 1 else na_r
                    cand[U(K_BANK * n_cand + q * n_banks + n_active)] = b  # its candidate: when recomputed
                    bq[U(qf + Q_ACTPOS), U(b)] = n_active
                    if q == 1:
                        na_w += 1
                    else:
                        na_r += 1
                else:
                    req[U(bq[U(qf + Q_TAIL), U(b)]), R_NEXT] = s
                bq[U(qf + Q_TAIL), U(b)] = s
                bq[U(qf + Q_COUNT), U(b)] += 1
                if bq[U(qf + Q_DIRTY), U(b)] == 0:
                    bq[U(qf + Q_DIRTY), U(b)] = 1
                    if q == 1:
                        bq[Q_FIELDS + Q_DIRTYLIST, U(nd_w)] = b
                        nd_w += 1
                    else:
                        bq[Q_DIRTYLIST, U(nd_r)] = b
                        nd_r += 1
                if open_row[U(b)] == row:
                    bq[U(qf + Q_HITS), U(b)] += 1
                    k = bs[B_CLOSEPOS, U(b)]  # a new hit keeps a closed-page row open
                    if k >= 0:
                        nclose -= 1
                        last = bs[B_CLOSELIST, U(nclose)]
                        bs[B_CLOSELIST, U(k)] = last
                        bs[B_CLOSEPOS, U(last)] = k
                        bs[B_CLOSEPOS, U(b)] = -1
                seq += 1
                pos += 1
            # ---- read or write mode: Ramulator 2's watermark rule
            if mode == 0:
                if nq_w >= cfg[C_HI] or (nq_r == 0 and nq_w > 0):
                    mode = 1
                    drains += 1
            elif nq_w < cfg[C_LO] and nq_r != 0:
                mode = 0
            col_cmd = WR if mode == 1 else RD
            qf = mode * Q_FIELDS
            qb = mode * n_banks
            # ---- rank-level part of the earliest cycle, per rank and command kind
            bus = max(last_issue + t_cmd, now)
            act_chan = max(bus, ready_chan[ACT])
            pre_chan = max(bus, ready_chan[PRE])
            col_chan = max(bus, ready_chan[U(col_cmd)])
            for r in range(ranks):
                act_rank = max(act_chan, ready_rank[U(r * NC + ACT)], faw[U(r * 4 + faw_pos[U(r)])] + t_faw)
                pre_rank = max(pre_chan, ready_rank[U(r * NC + PRE)])
                col_rank = max(col_chan, ready_rank[U(r * NC + col_cmd)])
                for g in range(r * groups, (r + 1) * groups):
                    group_part[U(3 * g)] = max(act_rank, ready_bg[U(g * NC + ACT)])
                    group_part[U(3 * g + 1)] = max(pre_rank, ready_bg[U(g * NC + PRE)])
                    group_part[U(3 * g + 2)] = max(col_rank, ready_bg[U(g * NC + col_cmd)])
            # ---- recompute the stale candidates of the queue served: the oldest row hit, else PRE (another
            # row open) or ACT; a row with queued hits is precharged only past the row-hit cap
            n_dirty = nd_w if mode == 1 else nd_r
            for k in range(n_dirty):
                b = bq[U(qf + Q_DIRTYLIST), U(k)]
                bq[U(qf + Q_DIRTY), U(b)] = 0
                if bq[U(qf + Q_COUNT), U(b)] == 0:
                    continue
                head = bq[U(qf + Q_HEAD), U(b)]
                row = open_row[U(b)]
                s = head
                if row >= 0:
                    if bq[U(qf + Q_HITS), U(b)] > 0 and (cap == 0 or bs[B_STREAK, U(b)] < cap
                                                         or req[U(head), R_ROW] == row):
                        while req[U(s), R_ROW] != row:
                            s = req[U(s), R_NEXT]
                        c, key, kind = col_cmd, req[U(s), R_SEQ], 2
                    else:
                        c, key, kind = PRE, KEY_ROW_COMMAND + req[U(s), R_SEQ], 1
                else:
                    c, key, kind = ACT, KEY_ROW_COMMAND + req[U(s), R_SEQ], 0
                cb = qb + bq[U(qf + Q_ACTPOS), U(b)]
                cand[U(K_BANK_READY * n_cand + cb)] = ready_bank[U(b * NC + c)]
                cand[U(K_GROUP_AT * n_cand + cb)] = 3 * bs[B_GROUP, U(b)] + kind
                cand[U(K_KEY * n_cand + cb)] = key
                cand[U(K_CMD * n_cand + cb)] = c
                cand[U(K_SLOT * n_cand + cb)] = s
            if mode == 1:
                nd_w = 0
            else:
                nd_r = 0
            # ---- the best command: one candidate per bank with requests in the queue served; the one that
            # can issue first, ties to the smaller key (row hit, then oldest). Cycle and key are compared as
            # one number, (cycle - now) x 2^T_SHIFT + key: a minimum without branches
            best = INF
            best_k = -1
            for k in range(qb, qb + (na_w if mode == 1 else na_r)):
                t = max(cand[U(K_BANK_READY * n_cand + k)], group_part[U(cand[U(K_GROUP_AT * n_cand + k)])])
                packed = ((t - now) << T_SHIFT) + cand[U(K_KEY * n_cand + k)]
                if packed < best:
                    best = packed
                    best_k = k
            best_b = -1
            best_c = -1
            best_s = -1
            if best_k >= 0:
                best_b = cand[U(K_BANK * n_cand + best_k)]
                best_c = cand[U(K_CMD * n_cand + best_k)]
                best_s = cand[U(K_SLOT * n_cand + best_k)]
            for k in range(nclose):  # closed page: rows nobody queued still hits
                b = bs[B_CLOSELIST, U(k)]
                t = max(group_part[U(3 * bs[B_GROUP, U(b)] + 1)], ready_bank[U(b * NC + PRE)])
                packed = ((t - now) << T_SHIFT) + KEY_ROW_COMMAND + bs[B_CLOSESEQ, U(b)]
                if packed < best:
                    best, best_b, best_c, best_s = packed, b, PRE, -1
            best_t = INF if best_b < 0 else now + (best >> T_SHIFT)
            # ---- the next arrival (it waits while its queue is full: the front end stalls, in order)
            arrival = INF
            if pos < n_inp:
                if (nq_w < depth_w) if inp[U(pos), I_WRITE] == 1 else (nq_r < depth_r):
                    arrival = max(inp[U(pos), I_ARR], now)
            elif not final:
                status = NEED_INPUT
                break
            horizon = min(best_t, arrival)
            if horizon == INF:
                break  # nothing queued, nothing to come
            # ---- refresh: the rank due first, precharged (PREA if a bank is open), then refreshed (REF, the
            # next step); rows re-open on demand
            rk = 0
            due = INF
            if refresh:
                for r2 in range(1, ranks):
                    if next_ref[U(r2)] < next_ref[U(rk)]:
                        rk = r2
                due = next_ref[U(rk)]
            if due <= horizon:
                now = max(due, now)
                c = PREA if open_count[U(rk)] > 0 else REF
                t = max(now, last_issue + t_cmd, ready_chan[U(c)], ready_rank[U(rk * NC + c)])
                b = rk * banks_per_rank
                s = -1
                if c == PREA:
                    pend = rk
            elif arrival <= best_t:
                now = arrival  # the request enters at the top of the loop
                continue
            else:
                t, b, c, s = best_t, best_b, best_c, best_s
                rk = bs[B_RANK, U(b)]
                now = t
        # ---- issue command c at cycle t (bank b, request slot s; rank rk): raise the ready times it sets
        base = c * SCOPES
        for k in range(rule_start[U(base + SC_BANK)], rule_start[U(base + SC_BANK + 1)]):
            i = b * NC + rule_later[U(k)]
            v = t + rule_gap[U(k)]
            if v > ready_bank[U(i)]:
                ready_bank[U(i)] = v
        g = bs[B_GROUP, U(b)]
        for k in range(rule_start[U(base + SC_GROUP)], rule_start[U(base + SC_GROUP + 1)]):
            i = g * NC + rule_later[U(k)]
            v = t + rule_gap[U(k)]
            if v > ready_bg[U(i)]:
                ready_bg[U(i)] = v
        for k in range(rule_start[U(base + SC_RANK)], rule_start[U(base + SC_RANK + 1)]):
            i = rk * NC + rule_later[U(k)]
            v = t + rule_gap[U(k)]
            if v > ready_rank[U(i)]:
                ready_rank[U(i)] = v
        for k in range(rule_start[U(base + SC_OTHER)], rule_start[U(base + SC_OTHER + 1)]):
            v = t + rule_gap[U(k)]
            for other in range(ranks):
                i = other * NC + rule_later[U(k)]
                if other != rk and v > ready_rank[U(i)]:
                    ready_rank[U(i)] = v
        for k in range(rule_start[U(base + SC_CHANNEL)], rule_start[U(base + SC_CHANNEL + 1)]):
            i = rule_later[U(k)]
            v = t + rule_gap[U(k)]
            if v > ready_chan[U(i)]:
                ready_chan[U(i)] = v
        last_issue = t
        cmd_count[U(c)] += 1
        end = max(end, t + occupancy[U(c)])
        rec_row = 0
        rec_col = 0
        rec_idx = -1
        if c == PREA or c == REF:
            first = rk * banks_per_rank
            if c == PREA:
                for b2 in range(first, first + banks_per_rank):
                    if open_row[U(b2)] >= 0:
                        busy[U(b2)] += t + t_rp - open_since[U(b2)]
                        open_row[U(b2)] = -1
                    bq[Q_HITS, U(b2)] = 0
                    bq[Q_FIELDS + Q_HITS, U(b2)] = 0
                    k = bs[B_CLOSEPOS, U(b2)]
                    if k >= 0:
                        nclose -= 1
                        last = bs[B_CLOSELIST, U(nclose)]
                        bs[B_CLOSELIST, U(k)] = last
                        bs[B_CLOSEPOS, U(last)] = k
                        bs[B_CLOSEPOS, U(b2)] = -1
                    # every candidate of the rank changes (its rows closed)
                    if bq[Q_COUNT, U(b2)] > 0 and bq[Q_DIRTY, U(b2)] == 0:
                        bq[Q_DIRTY, U(b2)] = 1
                        bq[Q_DIRTYLIST, U(nd_r)] = b2
                        nd_r += 1
                    if bq[Q_FIELDS + Q_COUNT, U(b2)] > 0 and bq[Q_FIELDS + Q_DIRTY, U(b2)] == 0:
                        bq[Q_FIELDS + Q_DIRTY, U(b2)] = 1
                        bq[Q_FIELDS + Q_DIRTYLIST, U(nd_w)] = b2
                        nd_w += 1
                open_count[U(rk)] = 0
            else:
                for b2 in range(first, first + banks_per_rank):
                    busy[U(b2)] += cfg[C_TRFC]
                next_ref[U(rk)] += cfg[C_TREFI]
        else:
            # a command of bank b: both its candidates change (row state, queue, hit streak)
            if bq[Q_COUNT, U(b)] > 0 and bq[Q_DIRTY, U(b)] == 0:
                bq[Q_DIRTY, U(b)] = 1
                bq[Q_DIRTYLIST, U(nd_r)] = b
                nd_r += 1
            if bq[Q_FIELDS + Q_COUNT, U(b)] > 0 and bq[Q_FIELDS + Q_DIRTY, U(b)] == 0:
                bq[Q_FIELDS + Q_DIRTY, U(b)] = 1
                bq[Q_FIELDS + Q_DIRTYLIST, U(nd_w)] = b
                nd_w += 1
            if c == ACT:
                faw[U(rk * 4 + faw_pos[U(rk)])] = t
                faw_pos[U(rk)] = 0 if faw_pos[U(rk)] == 3 else faw_pos[U(rk)] + 1
                row = req[U(s), R_ROW]
                open_row[U(b)] = row
                open_since[U(b)] = t
                open_count[U(rk)] += 1
                bs[B_STREAK, U(b)] = 0
                for q in range(2):  # queued requests of either queue that hit the new row
                    n = 0
                    p = bq[U(q * Q_FIELDS + Q_HEAD), U(b)]
                    while p >= 0:
                        if req[U(p), R_ROW] == row:
                            n += 1
                        p = req[U(p), R_NEXT]
                    bq[U(q * Q_FIELDS + Q_HITS), U(b)] = n
                rec_row = row
            elif c == PRE:
                busy[U(b)] += t + t_rp - open_since[U(b)]
                open_row[U(b)] = -1
                open_count[U(rk)] -= 1
                bq[Q_HITS, U(b)] = 0
                bq[Q_FIELDS + Q_HITS, U(b)] = 0
                k = bs[B_CLOSEPOS, U(b)]
                if k >= 0:
                    nclose -= 1
                    last = bs[B_CLOSELIST, U(nclose)]
                    bs[B_CLOSELIST, U(k)] = last
                    bs[B_CLOSEPOS, U(last)] = k
                    bs[B_CLOSEPOS, U(b)] = -1
            else:
                # unlink s from bank b's list of the queue served
                prev = -1
                p = bq[U(qf + Q_HEAD), U(b)]
                while p != s:
                    prev = p
                    p = req[U(p), R_NEXT]
                nxt = req[U(s), R_NEXT]
                if prev < 0:
                    bq[U(qf + Q_HEAD), U(b)] = nxt
                else:
                    req[U(prev), R_NEXT] = nxt
                if bq[U(qf + Q_TAIL), U(b)] == s:
                    bq[U(qf + Q_TAIL), U(b)] = prev
                bq[U(qf + Q_COUNT), U(b)] -= 1
                bq[U(qf + Q_HITS), U(b)] -= 1
                if bq[U(qf + Q_COUNT), U(b)] == 0:  # bank b leaves the queue's list of banks with requests
                    n_active = (na_w if mode == 1 else na_r) - 1
                    k = qb + bq[U(qf + Q_ACTPOS), U(b)]
                    last = qb + n_active
                    for f in range(0, K_FIELDS * n_cand, n_cand):  # the last bank of the list takes its place
                        cand[U(f + k)] = cand[U(f + last)]
                    bq[U(qf + Q_ACTPOS), U(cand[U(K_BANK * n_cand + k)])] = k - qb
                    bq[U(qf + Q_ACTPOS), U(b)] = -1
                    if mode == 1:
                        na_w = n_active
                    else:
                        na_r = n_active
                free[U(nfree)] = s
                nfree += 1
                bs[B_STREAK, U(b)] += 1
                if c == RD:
                    nq_r -= 1
                    done = t + rd_latency
                    lat = done - req[U(s), R_ENQ]
                    hist[U(min(lat, HIST_BINS))] += 1
                    lat_sum += lat
                    lat_max = max(lat_max, lat)
                    reads += 1
                    # integrate up to now first: the ring then holds only reads still in flight (at most one
                    # per cycle of the last CL + tBL), however long no read enters
                    rhead, rn, occ, occ_t, area = _advance_occupancy(t, ring, rhead, rn, occ, occ_t, area)
                    k = rhead + rn
                    if k >= n_ring:
                        k -= n_ring
                    ring[U(k)] = done
                    rn += 1
                else:
                    nq_w -= 1
                    writes += 1
                if closed and bq[Q_HITS, U(b)] + bq[Q_FIELDS + Q_HITS, U(b)] == 0 and bs[B_CLOSEPOS, U(b)] < 0:
                    bs[B_CLOSELIST, U(nclose)] = b
                    bs[B_CLOSEPOS, U(b)] = nclose
                    bs[B_CLOSESEQ, U(b)] = req[U(s), R_SEQ]
                    nclose += 1
                rec_row = req[U(s), R_ROW]
                rec_col = req[U(s), R_COL]
                rec_idx = req[U(s), R_IDX]
        if record:
            out[U(nout), O_CMD] = c
            out[U(nout), O_BANK] = b
            out[U(nout), O_ROW] = rec_row
            out[U(nout), O_COL] = rec_col
            out[U(nout), O_TIME] = t
            out[U(nout), O_IDX] = rec_idx
            nout += 1
    if status == DONE:
        rhead, rn, occ, occ_t, area = _advance_occupancy(INF - 1, ring, rhead, rn, occ, occ_t, area)
    sc[S_NOW], sc[S_POS], sc[S_SEQ] = now, pos, seq
    sc[S_NQ_R], sc[S_NQ_W], sc[S_NACT_R], sc[S_NACT_W] = nq_r, nq_w, na_r, na_w
    sc[S_NCLOSE], sc[S_NFREE], sc[S_MODE], sc[S_END], sc[S_NOUT] = nclose, nfree, mode, end, nout
    sc[S_RING_HEAD], sc[S_RING_N], sc[S_OCC], sc[S_OCC_T], sc[S_AREA] = rhead, rn, occ, occ_t, area
    sc[S_LAT_SUM], sc[S_LAT_MAX], sc[S_READS], sc[S_WRITES], sc[S_DRAINS] = lat_sum, lat_max, reads, writes, drains
    sc[S_NDIRTY_R], sc[S_NDIRTY_W], sc[S_LAST_ISSUE], sc[S_PEND_REF] = nd_r, nd_w, last_issue, pend
    return status
