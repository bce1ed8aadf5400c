"""The host-traffic controller loop of one bus channel: plain Python that numba compiles unchanged.

``serve`` is the hot loop of ``controller`` (docs/dram.md, "Controller for host
traffic"). Like ``fifo_kernel`` it is written once and run either as Python (the
"python" backend, for tests) or compiled by ``numba.njit`` (the "numba"
backend); the rule helpers (``_earliest``, ``_commit``, ``_close_rank``) are
``fifo_kernel``'s.

It is resumable: all state lives in the arrays passed in, so the caller feeds
requests in chunks (bounded memory for long traces) and empties the output
buffer when it fills. Event-driven: each step takes the earliest of (a) a due
refresh, (b) the next request's arrival, (c) the best command, and moves the
clock there; cycles in between are not visited.

Data structures (B banks of the channel, flat id = (rank x groups + group) x banks_per_group + bank):

- request pool ``req[slot, R_*]`` (read-queue depth + write-queue depth slots, free slots on a stack);
- per queue q (0 reads, 1 writes) and bank: a linked list of its requests in arrival order
  (rows Q_HEAD and Q_TAIL of ``bq``, ``req[s, R_NEXT]``), its length, and how many of them hit the bank's open
  row (Q_HITS); the banks with a non-empty list form a compact list (``Q_ACTLIST``), so a
  scheduling step looks at those banks only, one candidate command each (incremental selection: no rescans
  of the whole queue, no per-candidate rescans);
- per queue and bank, the cached candidate command (``cand``): recomputed only when something that decides
  it changed (a request of that bank entered or left, the bank issued a command, its rank refreshed). Its
  earliest cycle is the maximum of a bank-level part (bank and bank-group rules, cached; a command of the
  bank group raises it) and a rank-level part (rank, channel, command bus, tFAW) computed once per step
  for each rank;
- per bank (``bs``): the row-hit streak since the row opened and the closed-page precharge list;
- ``ring``: data-return cycles of issued reads (at most one read per cycle is in flight for CL + tBL
  cycles, so CL + tBL + 1 entries suffice), for the time integral of reads in the system (Little's law).
"""

from __future__ import annotations

from numba.extending import register_jitable

from l3sim.hw.dram import fifo_kernel as fk

DONE, NEED_INPUT, OUT_FULL = 0, 1, 2
INF = 1 << 62
HIST_BINS = 1 << 16  # read latencies are histogrammed exactly below this many cycles (p50/p99), above in one bin

# request pool columns
R_SEQ, R_ENQ, R_BANK, R_ROW, R_COL, R_IDX, R_NEXT = 0, 1, 2, 3, 4, 5, 6
R_FIELDS = 7
# per-queue, per-bank rows of bq[q * Q_FIELDS + row, bank] (one 2-D table: no views in the loop)
Q_HEAD, Q_TAIL, Q_COUNT, Q_HITS, Q_ACTPOS, Q_ACTLIST = 0, 1, 2, 3, 4, 5
Q_FIELDS = 6
# per-bank rows of bs[row, bank]: hit streak, closed-page list, and the bank's rank and bank group
B_STREAK, B_CLOSEPOS, B_CLOSELIST, B_CLOSESEQ, B_RANK, B_GROUP = 0, 1, 2, 3, 4, 5
B_FIELDS = 6
# cached candidate of each queue and bank, cand[q, row, bank]: command, request slot, tie-break key (row hits
# first, then arrival order: the request's sequence number, plus KEY_ROW_COMMAND for an ACT or PRE), the
# bank-level part of its earliest cycle, whether it must be recomputed, and its kind (row of rank_part: 0 ACT,
# 1 PRE, 2 column)
K_CMD, K_SLOT, K_KEY, K_LOCAL, K_DIRTY, K_KIND = 0, 1, 2, 3, 4, 5
K_FIELDS = 6
KEY_ROW_COMMAND = 1 << 48  # above any sequence number
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
# scalar state sc[...]
(S_NOW, S_POS, S_SEQ, S_NQ_R, S_NQ_W, S_NACT_R, S_NACT_W, S_NCLOSE, S_NFREE, S_MODE, S_END, S_NOUT, S_RING_HEAD,
 S_RING_N, S_OCC, S_OCC_T, S_AREA, S_LAT_SUM, S_LAT_MAX, S_READS, S_WRITES, S_DRAINS) = range(22)
S_FIELDS = 22


@register_jitable(inline="always")
def _advance_occupancy(t, ring, head, n, occ, occ_t, area):
    """Integrate the number of reads in the system (queued or waiting for data) up to cycle ``t``; returns
    the new (ring head, ring length, reads in the system, integrated-up-to cycle, integral)."""
    n_ring = ring.shape[0]
    while n > 0 and ring[head] <= t:
        r = ring[head]
        area += occ * (r - occ_t)
        occ_t = r
        occ -= 1
        head = (head + 1) % n_ring
        n -= 1
    if t > occ_t:
        area += occ * (t - occ_t)
        occ_t = t
    return head, n, occ, occ_t, area


@register_jitable(inline="always")
def _list_remove(table, pos_row, list_row, n, item):
    """Remove ``item`` from the compact list ``table[list_row, 0:n]`` (``table[pos_row, item]`` is its index,
    -1 if absent); returns the new length. Rows of one 2-D table, not views: views cost reference counting."""
    k = table[pos_row, item]
    if k < 0:
        return n
    last = table[list_row, n - 1]
    table[list_row, k] = last
    table[pos_row, last] = k
    table[pos_row, item] = -1
    return n - 1


@register_jitable(inline="always")
def _count_hits(b, row, bq, req):
    """Requests of each queue in bank ``b``'s lists that address ``row``."""
    for q in range(2):
        n = 0
        s = bq[q * Q_FIELDS + Q_HEAD, b]
        while s >= 0:
            if req[s, R_ROW] == row:
                n += 1
            s = req[s, R_NEXT]
        bq[q * Q_FIELDS + Q_HITS, b] = n


@register_jitable(inline="always")
def _record(out, k, c, b, row, col, t, idx):
    """Write recorded command ``k``; returns k + 1."""
    out[k, O_CMD] = c
    out[k, O_BANK] = b
    out[k, O_ROW] = row
    out[k, O_COL] = col
    out[k, O_TIME] = t
    out[k, O_IDX] = idx
    return k + 1


@register_jitable(inline="always")
def _enqueue(i, t, seq, nfree, n_active, inp, req, free, bq, open_row):
    """Request ``inp[i]`` enters its queue at cycle ``t`` as the ``seq``-th request; ``n_active``: banks with
    requests in that queue. Returns the new (free slots, banks with requests)."""
    q = inp[i, I_WRITE]
    b = inp[i, I_BANK]
    nfree -= 1
    s = free[nfree]
    req[s, R_SEQ] = seq
    req[s, R_ENQ] = t
    req[s, R_BANK] = b
    req[s, R_ROW] = inp[i, I_ROW]
    req[s, R_COL] = inp[i, I_COL]
    req[s, R_IDX] = inp[i, I_IDX]
    req[s, R_NEXT] = -1
    if bq[q * Q_FIELDS + Q_COUNT, b] == 0:
        bq[q * Q_FIELDS + Q_HEAD, b] = s
        bq[q * Q_FIELDS + Q_ACTLIST, n_active] = b
        bq[q * Q_FIELDS + Q_ACTPOS, b] = n_active
        n_active += 1
    else:
        req[bq[q * Q_FIELDS + Q_TAIL, b], R_NEXT] = s
    bq[q * Q_FIELDS + Q_TAIL, b] = s
    bq[q * Q_FIELDS + Q_COUNT, b] += 1
    if open_row[b] == inp[i, I_ROW]:
        bq[q * Q_FIELDS + Q_HITS, b] += 1
    return nfree, n_active


@register_jitable(inline="always")
def _dirty_group(g, bpg, cand):
    """The banks of bank group ``g`` (flat) must recompute their candidates (their rank refreshed)."""
    for b in range(g * bpg, (g + 1) * bpg):
        cand[0, K_DIRTY, b] = 1
        cand[1, K_DIRTY, b] = 1


@register_jitable
def _pick(mode, n_active, col_cmd, cap, bq, bs, cand, req, open_row, ready_bg, ready_bank, rank_part):
    """The bank whose candidate in queue ``mode`` issues first (ties: row hit, then oldest), with its cycle and
    key; -1 if no bank has requests. A bank's stale candidate is recomputed first: its oldest row hit, else
    PRE (another row open) or ACT. The candidate is computed here, not by an inlined helper taking arrays:
    numba then reference-counts those arrays on every call (measured: a fifth of the loop's time)."""
    best_t = INF
    best_b = -1
    best_key = INF
    for k in range(n_active):
        b = bq[mode * Q_FIELDS + Q_ACTLIST, k]
        if cand[mode, K_DIRTY, b] != 0:
            head = bq[mode * Q_FIELDS + Q_HEAD, b]
            row = open_row[b]
            s = head
            if row >= 0:
                if bq[mode * Q_FIELDS + Q_HITS, b] > 0 and (cap == 0 or bs[B_STREAK, b] < cap
                                                            or req[head, R_ROW] == row):
                    while req[s, R_ROW] != row:
                        s = req[s, R_NEXT]
                    c, key, kind = col_cmd, req[s, R_SEQ], 2
                else:
                    c, key, kind = fk.PRE, KEY_ROW_COMMAND + req[s, R_SEQ], 1
            else:
                c, key, kind = fk.ACT, KEY_ROW_COMMAND + req[s, R_SEQ], 0
            cand[mode, K_KIND, b] = kind
            cand[mode, K_CMD, b] = c
            cand[mode, K_SLOT, b] = s
            cand[mode, K_KEY, b] = key
            cand[mode, K_LOCAL, b] = max(ready_bg[bs[B_GROUP, b], c], ready_bank[b, c])
            cand[mode, K_DIRTY, b] = 0
        t = rank_part[cand[mode, K_KIND, b], bs[B_RANK, b]]
        local = cand[mode, K_LOCAL, b]
        if local > t:
            t = local
        if t < best_t:
            best_t, best_b, best_key = t, b, cand[mode, K_KEY, b]
        elif t == best_t:
            key = cand[mode, K_KEY, b]
            if key < best_key:
                best_b, best_key = b, key
    return best_b, best_t, best_key


def serve(inp, n_inp, cfg, sc, req, free, bq, bs, cand, rank_part, open_row, open_since, open_count, busy,
          next_ref, ready_chan, ready_rank, ready_bg, ready_bank, faw, faw_pos, last_issue, ring, hist, cmd_count,
          out, rule_start, rule_later, rule_scope, rule_gap, occupancy):
    """Serve requests ``inp[sc[S_POS]:n_inp]`` until the input runs out (NEED_INPUT, unless ``cfg[C_FINAL]``:
    then until every request is served, DONE) or the output buffer fills (OUT_FULL). Resumable: the scalar
    state is read from ``sc`` here and written back on return (kept in local variables in between, so the
    compiled loop holds it in registers).

    ``rank_part[kind, rank]`` is scratch: the rank-level earliest cycle of ACT (0), PRE (1) and the column
    command of the queue served (2) for each rank, this step."""
    ranks = cfg[C_RANKS]
    bpg = cfg[C_BPG]
    groups = cfg[C_GROUPS]
    banks_per_rank = groups * bpg
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
    status = DONE
    while True:
        if record and nout + 2 > out_cap:
            status = OUT_FULL
            break
        # ---- requests that have arrived by now enter while their queue has room (no command can come first)
        while pos < n_inp and inp[pos, I_ARR] <= now:
            b = inp[pos, I_BANK]
            if inp[pos, I_WRITE] == 1:
                if nq_w >= depth_w:
                    break
                nfree, na_w = _enqueue(pos, now, seq, nfree, na_w, inp, req, free, bq, open_row)
                nq_w += 1
                cand[1, K_DIRTY, b] = 1
            else:
                if nq_r >= depth_r:
                    break
                nfree, na_r = _enqueue(pos, now, seq, nfree, na_r, inp, req, free, bq, open_row)
                nq_r += 1
                cand[0, K_DIRTY, b] = 1
                rhead, rn, occ, occ_t, area = _advance_occupancy(now, ring, rhead, rn, occ, occ_t, area)
                occ += 1
            if open_row[b] == inp[pos, I_ROW]:  # a new hit keeps a closed-page row open
                nclose = _list_remove(bs, B_CLOSEPOS, B_CLOSELIST, nclose, b)
            seq += 1
            pos += 1
        # ---- read or write mode: Ramulator 2's watermark rule
        if mode == 0:
            if nq_w >= cfg[C_HI] or (nq_r == 0 and nq_w > 0):
                mode = 1
                drains += 1
        elif nq_w < cfg[C_LO] and nq_r != 0:
            mode = 0
        col_cmd = fk.WR if mode == 1 else fk.RD
        # ---- rank-level part of the earliest cycle, per rank and command kind
        bus = max(last_issue[0] + t_cmd, now)
        for r in range(ranks):
            rank_part[0, r] = max(bus, ready_chan[0, fk.ACT], ready_rank[r, fk.ACT], faw[r, faw_pos[r]] + t_faw)
            rank_part[1, r] = max(bus, ready_chan[0, fk.PRE], ready_rank[r, fk.PRE])
            rank_part[2, r] = max(bus, ready_chan[0, col_cmd], ready_rank[r, col_cmd])
        # ---- the best command: one cached candidate per bank with requests in the active queue
        best_b, best_t, best_key = _pick(mode, na_w if mode == 1 else na_r, col_cmd, cap, bq, bs, cand, req,
                                         open_row, ready_bg, ready_bank, rank_part)
        best_c = -1
        best_s = -1
        if best_b >= 0:
            best_c = cand[mode, K_CMD, best_b]
            best_s = cand[mode, K_SLOT, best_b]
        for k in range(nclose):  # closed page: rows nobody queued still hits
            b = bs[B_CLOSELIST, k]
            t = max(rank_part[1, bs[B_RANK, b]], ready_bg[bs[B_GROUP, b], fk.PRE], ready_bank[b, fk.PRE])
            key = KEY_ROW_COMMAND + bs[B_CLOSESEQ, b]
            if t < best_t or (t == best_t and key < best_key):
                best_t, best_b, best_c, best_s, best_key = t, b, fk.PRE, -1, key
        # ---- the next arrival (it waits while its queue is full: the front end stalls, in order)
        arrival = INF
        if pos < n_inp:
            if (nq_w < depth_w) if inp[pos, I_WRITE] == 1 else (nq_r < depth_r):
                arrival = max(inp[pos, I_ARR], now)
        elif not final:
            status = NEED_INPUT
            break
        horizon = min(best_t, arrival)
        if horizon == INF:
            break  # nothing queued, nothing to come
        # ---- refresh: the rank due first, precharged (PREA if a bank is open) and refreshed (REF)
        if refresh:
            r = 0
            for r2 in range(1, ranks):
                if next_ref[r2] < next_ref[r]:
                    r = r2
            due = next_ref[r]
            if due <= horizon:
                due = max(due, now)
                for step in range(2):
                    cc = fk.PREA if step == 0 else fk.REF
                    if cc == fk.PREA and open_count[r] == 0:
                        continue
                    tt = max(due, fk._earliest(cc, False, 0, r, 0, 0, last_issue, t_cmd, ready_chan, ready_rank,
                                               ready_bg, ready_bank, faw, faw_pos, t_faw))
                    fk._commit(cc, tt, 0, r, 0, 0, ranks, rule_start, rule_later, rule_scope, rule_gap, last_issue,
                               ready_chan, ready_rank, ready_bg, ready_bank, faw, faw_pos)
                    if cc == fk.PREA:
                        fk._close_rank(r, tt, t_rp, banks_per_rank, open_row, open_count, open_since, busy)
                        for b2 in range(r * banks_per_rank, (r + 1) * banks_per_rank):
                            bq[Q_HITS, b2] = 0
                            bq[Q_FIELDS + Q_HITS, b2] = 0
                            nclose = _list_remove(bs, B_CLOSEPOS, B_CLOSELIST, nclose, b2)
                    else:
                        for b2 in range(r * banks_per_rank, (r + 1) * banks_per_rank):
                            busy[b2] += cfg[C_TRFC]
                    cmd_count[cc] += 1
                    end = max(end, tt + occupancy[cc])
                    if record:
                        nout = _record(out, nout, cc, r * banks_per_rank, 0, 0, tt, -1)
                for g in range(r * groups, (r + 1) * groups):
                    _dirty_group(g, bpg, cand)
                next_ref[r] += cfg[C_TREFI]
                now = due
                continue
        if arrival <= best_t:
            now = arrival  # the request enters at the top of the loop
            continue
        # ---- issue the best command
        t, b, c, s = best_t, best_b, best_c, best_s
        rk = bs[B_RANK, b]
        fk._commit(c, t, 0, rk, bs[B_GROUP, b], b, ranks, rule_start, rule_later, rule_scope, rule_gap, last_issue,
                   ready_chan, ready_rank, ready_bg, ready_bank, faw, faw_pos)
        # the command raised its bank group's ready times: the cached bank-level parts of the group's candidates
        # follow (ready times only grow, so a maximum suffices; their commands stay the same). Written out, not
        # an inlined helper: one taking arrays costs reference counting on every command (measured)
        g = bs[B_GROUP, b]
        for b2 in range(g * bpg, (g + 1) * bpg):
            for q in range(2):
                if cand[q, K_DIRTY, b2] == 0:
                    ready = ready_bg[g, cand[q, K_CMD, b2]]
                    if ready > cand[q, K_LOCAL, b2]:
                        cand[q, K_LOCAL, b2] = ready
        cand[0, K_DIRTY, b] = 1
        cand[1, K_DIRTY, b] = 1
        cmd_count[c] += 1
        now = t
        end = max(end, t + occupancy[c])
        if c == fk.ACT:
            open_row[b] = req[s, R_ROW]
            open_since[b] = t
            open_count[rk] += 1
            bs[B_STREAK, b] = 0
            _count_hits(b, req[s, R_ROW], bq, req)
            if record:
                nout = _record(out, nout, c, b, req[s, R_ROW], 0, t, -1)
        elif c == fk.PRE:
            busy[b] += t + t_rp - open_since[b]
            open_row[b] = -1
            open_count[rk] -= 1
            bq[Q_HITS, b] = 0
            bq[Q_FIELDS + Q_HITS, b] = 0
            nclose = _list_remove(bs, B_CLOSEPOS, B_CLOSELIST, nclose, b)
            if record:
                nout = _record(out, nout, c, b, 0, 0, t, -1)
        else:
            # unlink s from bank b's list of the active queue
            prev = -1
            p = bq[mode * Q_FIELDS + Q_HEAD, b]
            while p != s:
                prev = p
                p = req[p, R_NEXT]
            nxt = req[s, R_NEXT]
            if prev < 0:
                bq[mode * Q_FIELDS + Q_HEAD, b] = nxt
            else:
                req[prev, R_NEXT] = nxt
            if bq[mode * Q_FIELDS + Q_TAIL, b] == s:
                bq[mode * Q_FIELDS + Q_TAIL, b] = prev
            bq[mode * Q_FIELDS + Q_COUNT, b] -= 1
            bq[mode * Q_FIELDS + Q_HITS, b] -= 1
            if bq[mode * Q_FIELDS + Q_COUNT, b] == 0:
                if mode == 1:
                    na_w = _list_remove(bq, Q_FIELDS + Q_ACTPOS, Q_FIELDS + Q_ACTLIST, na_w, b)
                else:
                    na_r = _list_remove(bq, Q_ACTPOS, Q_ACTLIST, na_r, b)
            free[nfree] = s
            nfree += 1
            bs[B_STREAK, b] += 1
            if c == fk.RD:
                nq_r -= 1
                done = t + rd_latency
                lat = done - req[s, R_ENQ]
                hist[min(lat, HIST_BINS)] += 1
                lat_sum += lat
                lat_max = max(lat_max, lat)
                reads += 1
                ring[(rhead + rn) % n_ring] = done
                rn += 1
            else:
                nq_w -= 1
                writes += 1
            if closed and bq[Q_HITS, b] + bq[Q_FIELDS + Q_HITS, b] == 0 and bs[B_CLOSEPOS, b] < 0:
                bs[B_CLOSELIST, nclose] = b
                bs[B_CLOSEPOS, b] = nclose
                bs[B_CLOSESEQ, b] = req[s, R_SEQ]
                nclose += 1
            if record:
                nout = _record(out, nout, c, b, req[s, R_ROW], req[s, R_COL], t, req[s, R_IDX])
    if status == DONE:
        rhead, rn, occ, occ_t, area = _advance_occupancy(INF - 1, ring, rhead, rn, occ, occ_t, area)
    sc[S_NOW], sc[S_POS], sc[S_SEQ] = now, pos, seq
    sc[S_NQ_R], sc[S_NQ_W], sc[S_NACT_R], sc[S_NACT_W] = nq_r, nq_w, na_r, na_w
    sc[S_NCLOSE], sc[S_NFREE], sc[S_MODE], sc[S_END], sc[S_NOUT] = nclose, nfree, mode, end, nout
    sc[S_RING_HEAD], sc[S_RING_N], sc[S_OCC], sc[S_OCC_T], sc[S_AREA] = rhead, rn, occ, occ_t, area
    sc[S_LAT_SUM], sc[S_LAT_MAX], sc[S_READS], sc[S_WRITES], sc[S_DRAINS] = lat_sum, lat_max, reads, writes, drains
    return status
