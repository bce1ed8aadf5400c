"""Command programs of one decode-attention call, for the engine to time (the reference latency).

Per variant (see ``l3sim.spec.pim``):

- bank level, pipelined (``l3``): the host writes q, new k and new v (the
  buffer chip re-lays them out in flight); per (round, pass): q slices go to
  the shared buffers (PIM_WR_SB); chunk by chunk, the K rows are MACed while
  the partial scores of the tokens already finished are read out (PIM_RD_RB
  interleaved with PIM_MAC: the bank-internal and external buses overlap), and
  the V rows of the previous chunk are MACed while its S streams into the
  shared buffers (PIM_WR_SB interleaved); each chunk's partial outputs are
  read once (PIM_RD_RB); finally the host reads the outputs.
- bank level, not pipelined (``no-pipeline``): every K row is MACed, then its
  partial scores are read; the rank PU's softmax runs over all scores; S is
  written back to DRAM (WR); every V row loads its S from DRAM (ACT, PIM_LD_SB,
  PRE) before its MACs; the outputs are read once.
- ``cpu-relayout``: as ``no-pipeline``, and every vector that changes layout
  (q, new k and v, S, the outputs) is also read and written again by the host
  over the channel.
- rank level (``rank-pim``): the buffer-chip PU streams K and V with ordinary
  reads at rank bandwidth (row by row over all banks, bank groups interleaved).
"""

from __future__ import annotations

import numpy as np

from l3sim.hw.pim.geometry import RankGeometry
from l3sim.hw.pim.ops import CODE, Segment, concat, interleave, seg, tile
from l3sim.hw.pim.plan import CallPlan, PassCounts, RowCounts

# Rows of the bank address space each kind of data is drawn from; any distinct rows will do.
K_BASE, V_BASE, S_BASE, HOST_BASE = 0, 1 << 14, 1 << 15, (1 << 16) - 64


def open_all_banks(geometry: RankGeometry, row: int) -> Segment:
    """ACT the same row in every bank, in flat order, so consecutive ACTs alternate bank groups."""
    return seg("ACT", bank=np.arange(geometry.banks_per_chip), row=row)


def mac_row(geometry: RankGeometry, row: int, macs: int) -> Segment:
    """One row-round: open the row in every bank, ``macs`` all-bank PIM_MACs along it, close all banks."""
    return concat([open_all_banks(geometry, row), seg("PIM_MAC", row=row, col=np.arange(macs)),
                   seg("PREA", row=row)])


def s_load(geometry: RankGeometry, row: int, bursts: int) -> Segment:
    """Without pipelining, a V row-round first loads its S from the DRAM copy into the shared buffers.

    The copy is spread over one bank of each bank group, so the loads go at tCCD_S.
    """
    return bus_transfer(geometry, "PIM_LD_SB", bursts, row)


def with_bus_stream(rows: Segment, name: str, bursts: int, offset: int) -> Segment:
    """Spread ``bursts`` rank-bus commands evenly over the PIM_MACs of ``rows`` (a software pipeline).

    Burst j goes right after MAC floor(j x MACs / bursts) + offset - 1: ``offset`` = cols_per_token reads
    results of tokens whose MACs are done (the partial scores lag one token); ``offset`` = 0 writes S just
    before the MAC that needs it. Bursts past the last MAC follow the whole segment.
    """
    mac_at = np.flatnonzero(rows.cmd == CODE["PIM_MAC"])
    if bursts == 0:
        return rows
    if len(mac_at) == 0:
        return concat([rows, seg(name, count=bursts)])
    index = np.arange(bursts, dtype=np.int64) * len(mac_at) // bursts + offset - 1
    after = np.where(index >= len(mac_at), len(rows) - 1,
                     np.where(index >= 0, mac_at[np.clip(index, 0, len(mac_at) - 1)], mac_at[0] - 1))
    return interleave(rows, seg(name, count=bursts), after)


def bus_transfer(geometry: RankGeometry, name: str, bursts: int, row: int) -> Segment:
    """``bursts`` column commands (RD, WR or PIM_LD_SB) over one bank of each bank group, row by row."""
    groups = geometry.bank_groups
    per_row = groups * geometry.row_bursts
    parts = []
    for start in range(0, bursts, per_row):
        n = min(per_row, bursts - start)
        j = np.arange(n)
        parts += [seg("ACT", bank=np.arange(min(groups, n)), row=row), seg(name, bank=j % groups, row=row,
                  col=j // groups), seg("PREA", row=row)]
        row += 1
    return concat(parts)


def _phase(geometry: RankGeometry, counts: RowCounts, index: int, first: int, last: int, base: int,
           s_from_dram: bool = False) -> tuple[Segment, int]:
    """Row-rounds ``first``..``last - 1`` of one phase and the rank-bus bursts that belong to them."""
    full = int(counts.full_rows[index])
    n_full = max(0, min(last, full) - first)
    row_bursts = geometry.row_bursts

    def one(row: int, macs: int, bursts: int) -> Segment:
        load = s_load(geometry, S_BASE + row, bursts) if s_from_dram else Segment()
        return concat([load, mac_row(geometry, row, macs)])

    parts = [tile(one(base + first, row_bursts, counts.bursts_full), n_full, 1)]
    bursts = n_full * counts.bursts_full
    macs = int(counts.last_macs[index])
    if macs and first <= full < last:
        parts.append(one(base + full, macs, int(counts.last_bursts[index])))
        bursts += int(counts.last_bursts[index])
    return concat(parts), bursts


def _n_rows(counts: RowCounts, index: int) -> int:
    return int(counts.full_rows[index]) + (1 if counts.last_macs[index] else 0)


def _serial_k_rows(geometry: RankGeometry, counts: RowCounts, index: int) -> Segment:
    """Without pipelining: each row-round's MACs, then its partial scores read out."""
    parts = []
    for r in range(_n_rows(counts, index)):
        rows, bursts = _phase(geometry, counts, index, r, r + 1, K_BASE)
        parts += [rows, seg("PIM_RD_RB", count=bursts)]
    return concat(parts)


def _pass_program(geometry: RankGeometry, plan: CallPlan, unit: PassCounts, index: int) -> Segment:
    q = seg("PIM_WR_SB", count=unit.q_bursts)
    out = seg("PIM_RD_RB", count=unit.out_bursts)
    if not plan.features.pipelining:
        s_bursts = int(unit.s_bursts[index])
        parts = [q, _serial_k_rows(geometry, unit.k_rows, index), bus_transfer(geometry, "WR", s_bursts, S_BASE)]
        if plan.features.relayout == "cpu":
            parts += [bus_transfer(geometry, "RD", s_bursts, S_BASE), bus_transfer(geometry, "WR", s_bursts, S_BASE)]
        v_rows, _ = _phase(geometry, unit.v_rows, index, 0, _n_rows(unit.v_rows, index), V_BASE, s_from_dram=True)
        return concat(parts + [v_rows, out])
    lag = plan.mapping.cols_per_token
    chunks = int(unit.chunks[index])
    k_per = -(-_n_rows(unit.k_rows, index) // chunks)
    v_per = -(-_n_rows(unit.v_rows, index) // chunks)

    def k_chunk(c: int) -> Segment:
        rows, bursts = _phase(geometry, unit.k_rows, index, c * k_per, (c + 1) * k_per, K_BASE)
        return with_bus_stream(rows, "PIM_RD_RB", bursts, lag)

    parts = [q, k_chunk(0)]
    for c in range(chunks):
        rows, bursts = _phase(geometry, unit.v_rows, index, c * v_per, (c + 1) * v_per, V_BASE)
        parts += [k_chunk(c + 1), with_bus_stream(rows, "PIM_WR_SB", bursts, 0), out]
    return concat(parts)


def _rank_pim_program(geometry: RankGeometry, plan: CallPlan, index: int) -> Segment:
    """R-PIM: stream K and V of every KV head with ordinary reads, all banks open, bank groups interleaved."""
    banks = geometry.banks_per_chip
    per_round = banks * geometry.row_bursts
    total = int(plan.rank_read_bursts[index])

    def round_of(row: int, n: int) -> Segment:
        j = np.arange(n)
        return concat([open_all_banks(geometry, row), seg("RD", bank=j % banks, row=row, col=j // banks),
                       seg("PREA", row=row)])

    full, rest = divmod(total, per_round)
    return concat([tile(round_of(K_BASE, per_round), full, 1), round_of(K_BASE + full, rest) if rest else Segment()])


def program_segment(plan: CallPlan, geometry: RankGeometry, index: int = 0) -> Segment:
    """The whole call for context length ``plan.context_tokens[index]``, as engine-neutral arrays."""
    host_in = [bus_transfer(geometry, "WR", plan.host_in_bursts, HOST_BASE)]
    host_out = [bus_transfer(geometry, "RD", plan.host_out_bursts, HOST_BASE)]
    if plan.features.relayout == "cpu":
        half = plan.relayout_extra_in_bursts // 2
        host_in += [bus_transfer(geometry, "RD", half, HOST_BASE), bus_transfer(geometry, "WR", half, HOST_BASE)]
        host_out.append(bus_transfer(geometry, "WR", plan.relayout_extra_out_bursts, HOST_BASE))
    if plan.mapping is None:
        body = [_rank_pim_program(geometry, plan, index)]
    else:
        body = [tile(_pass_program(geometry, plan, unit, index), unit.repeat, 0) for unit in plan.passes]
    return concat(host_in + body + host_out)
