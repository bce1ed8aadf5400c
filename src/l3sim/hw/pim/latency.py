"""The fast latency model: the engine's timing of the PIM programs in closed form, vectorised over a batch.

The programs (``programs``) are long repetitions of a few segments: a row-round
of PIM_MACs over every bank (with or without rank-bus bursts interleaved), a
transfer of ordinary bursts over one bank per bank group, a run of rank-bus
bursts. The engine issues commands in order, each at the first cycle its
timing rules allow; for each segment that gives a duration in closed form from
the DDR timing parameters (derived below, rule by rule). The call's latency is
the sum over segments of count x duration, plus refresh, plus the rank PU's
time where it is not hidden (see ``rank_pu_cycles``). Where the rank bus is
slower than the MACs a pipelined unit's rows are not repetitions of one
duration; there its softmax chunks are timed in order, command by command, each
distinct chunk once (``_bus_bound_unit``). The engine is the reference;
``l3sim hw validate`` measures the agreement.
"""

from __future__ import annotations

import numpy as np

from l3sim.errors import ConfigError, NumericalError
from l3sim.hw.pim.chunk_timer import chunk_timer
from l3sim.hw.pim.geometry import RankGeometry
from l3sim.hw.pim.plan import CallPlan, PassCounts, RowCounts, plan_call
from l3sim.hw.pim.refresh import Timed, act_series_cycles, closed_segment, program_groups, row_segment
from l3sim.spec.pim import PIMSpec, variant_features


def _last_act(geometry: RankGeometry) -> int:
    """Cycle of the last of the ACTs a program issues back to back to every bank (0, 1, ...) to open a row."""
    return act_series_cycles(geometry, program_groups(geometry, geometry.banks_per_chip))[-1]


def mac_row_cycles(geometry: RankGeometry, macs) -> Timed:
    """One row-round of all-bank PIM_MACs whose rank-bus bursts (if any) fit between them.

    From the first ACT to the next segment's first ACT: the last ACT, tRCD, one MAC per tCCD_L, then
    PREA after tRTP (and no earlier than tRAS after the last ACT), then tRP. Bursts that go with the
    MACs ride along one per burst duration between them while they need no longer than tCCD_L per MAC;
    where they need longer the row is timed in order instead (``_bus_bound_unit``).
    """
    return _mac_row(geometry, macs, geometry.trp)


def _mac_row(geometry: RankGeometry, macs, closed_cycles) -> Timed:
    """A MAC row-round (``mac_row_cycles``) whose banks stay closed ``closed_cycles`` after its PREA."""
    g = geometry
    macs = np.asarray(macs, dtype=np.int64)
    act = _last_act(g)
    prea = np.maximum(act + g.trcd + (macs - 1) * g.tccd_l + g.trtp, act + g.tras)
    return row_segment(g, g.banks_per_chip, act, prea, closed_cycles, max(0, g.trtp - g.tccd_l)).where(macs > 0)


def serial_k_row_cycles(geometry: RankGeometry, macs, bursts) -> Timed:
    """A row-round of MACs followed (after PREA) by the read-out of its results: nothing overlaps."""
    g = geometry
    bursts = np.asarray(bursts, dtype=np.int64)
    drain = np.where(bursts > 0, (bursts - 1) * g.burst_cycles + 2, 0)
    return _mac_row(g, macs, np.maximum(g.trp, drain))


def transfer_cycles(geometry: RankGeometry, bursts, kind: str) -> Timed:
    """``bursts`` column commands over one bank per bank group, a row of each at a time (``bus_transfer``).

    Per group of rows: ACTs, then one burst per tCCD_S from the first cycle every bank's first burst can
    follow its ACT by tRCD (burst j goes to bank j, whose ACT came j x tRRD_S after the first: when tRRD_S >
    tCCD_S the later banks set the pace), then PREA after tRTP (reads) or after the write recovery CWL +
    burst + tWR (writes), then tRP.
    """
    g = geometry
    bursts = np.asarray(bursts, dtype=np.int64)
    per_group = g.bank_groups * g.row_bursts
    close = g.cwl + g.burst_cycles + g.twr if kind == "WR" else g.trtp
    series = [act_series_cycles(g, program_groups(g, k)) for k in range(g.bank_groups + 1)]
    last_acts = np.array([acts[-1] if acts else 0 for acts in series])
    # the first burst's cycle with k banks open: each bank's first burst after its ACT + tRCD, at most one
    # burst per tCCD_S, and after the last ACT (one command a cycle)
    firsts = np.array([max([acts[j] + g.trcd - j * g.tccd_s for j in range(k)] + [last_acts[k] + 1]) if k else 0
                       for k, acts in enumerate(series)])

    def group(n):
        banks = np.minimum(n, g.bank_groups)
        act = last_acts[banks]
        first = firsts[banks]
        prea = np.maximum(first + (n - 1) * g.tccd_s + close, act + g.tras)
        return row_segment(g, banks, act, prea, g.trp, max(0, close - g.tccd_s)).where(n > 0)

    full, rest = np.divmod(bursts, per_group)
    return full * group(np.int64(per_group)) + group(rest)


def bus_run_cycles(geometry: RankGeometry, bursts, delay=0) -> Timed:
    """A run of rank-bus bursts (PIM_WR_SB, PIM_RD_RB) right after a PREA, before the next ACT.

    The bursts go one per burst duration from the cycle after PREA (``delay`` cycles later where the bus is
    still busy with bursts issued before the PREA); the next ACT waits for tRP and for the last burst, so
    the run costs only what it adds beyond tRP (already in the row's duration). Every bank is closed meanwhile.
    """
    bursts = np.asarray(bursts, dtype=np.int64)
    g = geometry
    return closed_segment(np.where(bursts > 0, np.maximum(0, (bursts - 1) * g.burst_cycles + 2 + delay - g.trp), 0))


def rank_read_cycles(geometry: RankGeometry, bursts) -> Timed:
    """R-PIM: row-rounds of ordinary reads over every bank, bank groups interleaved (``_rank_pim_program``)."""
    g = geometry
    bursts = np.asarray(bursts, dtype=np.int64)
    per_round = g.banks_per_chip * g.row_bursts
    acts = act_series_cycles(g, program_groups(g, g.banks_per_chip))
    # read j (j < banks) waits for its bank's ACT + tRCD; later reads follow at tCCD_S. A round of n < banks
    # reads touches banks 0 .. n - 1 only, so its first read waits for those: ready[k] covers the first k banks.
    ready = np.maximum(np.maximum.accumulate([acts[j] + g.trcd - j * g.tccd_s for j in range(g.banks_per_chip)]),
                       acts[-1] + 1)

    def round_cycles(n):
        first = ready[np.clip(n, 1, g.banks_per_chip) - 1]
        prea = np.maximum(first + (n - 1) * g.tccd_s + g.trtp, acts[-1] + g.tras)
        return row_segment(g, g.banks_per_chip, acts[-1], prea, g.trp, max(0, g.trtp - g.tccd_s)).where(n > 0)

    full, rest = np.divmod(bursts, per_round)
    return full * round_cycles(np.int64(per_round)) + round_cycles(rest)


def _rows_cycles(geometry: RankGeometry, rows: RowCounts, serial: bool) -> Timed:
    """All row-rounds of a phase; their bursts follow each row (``serial``), or ride along between the
    MACs or were moved before the rows by another segment."""
    if serial:
        return rows.full_rows * serial_k_row_cycles(geometry, geometry.row_bursts, rows.bursts_full) + \
            serial_k_row_cycles(geometry, rows.last_macs, rows.last_bursts)
    return rows.full_rows * mac_row_cycles(geometry, geometry.row_bursts) + mac_row_cycles(geometry, rows.last_macs)


def _tail_bursts(macs, bursts, lag: int) -> np.ndarray:
    """Bursts ``with_bus_stream`` puts after the last of ``macs`` MACs: burst j follows MAC
    floor(j x macs / bursts) + lag - 1, so n - ceil((macs - lag + 1) x n / macs) of them fall past the end."""
    macs = np.asarray(macs, dtype=np.int64)
    bursts = np.asarray(bursts, dtype=np.int64)
    inside = -(-np.maximum(macs - lag + 1, 0) * bursts // np.maximum(macs, 1))
    return np.where(macs > 0, bursts - inside, bursts)


def _chunk_tails_cycles(plan: CallPlan, unit: PassCounts, geometry: RankGeometry) -> Timed:
    """What the partial scores left after each chunk's last PREA add (all chunks full but the last)."""
    rows = unit.k_rows
    last_partial = rows.last_macs > 0
    n_rows = rows.full_rows + last_partial
    chunk_rows = -(-n_rows // unit.chunks)
    lag = plan.mapping.cols_per_token
    full_tail = _tail_bursts(chunk_rows * geometry.row_bursts, chunk_rows * rows.bursts_full, lag)
    last_rows = n_rows - (unit.chunks - 1) * chunk_rows
    last_macs = (last_rows - 1) * geometry.row_bursts + np.where(last_partial, rows.last_macs, geometry.row_bursts)
    last_bursts = (last_rows - 1) * rows.bursts_full + np.where(last_partial, rows.last_bursts, rows.bursts_full)
    last_tail = _tail_bursts(last_macs, last_bursts, lag)
    return (unit.chunks - 1) * bus_run_cycles(geometry, full_tail) + bus_run_cycles(geometry, last_tail)


def _bus_bound(geometry: RankGeometry, rows: RowCounts) -> np.ndarray:
    """Where some MAC of a phase may carry bursts that need longer than tCCD_L.

    A chunk of M MACs and B bursts puts at most ceil(B / M) bursts after one MAC; a full row's ratio is
    bursts_full / row_bursts, and a chunk's ratio is at most the larger of its full rows' and its partial
    row's. Where this says True but the bus keeps up, timing in order gives the closed form's cycles
    anyway: the mask only spares that work."""
    g = geometry
    per_mac = np.maximum(-(-rows.bursts_full // g.row_bursts), -(-rows.last_bursts // np.maximum(rows.last_macs, 1)))
    return per_mac * g.burst_cycles > g.tccd_l


def _timed_phase(geometry: RankGeometry, rows: RowCounts, chunks, lag: int, run_after) -> Timed:
    """One phase (K or V rows) of a pipelined unit, chunk by chunk in order (``chunk_timer``), with the run of
    bursts after each chunk's last PREA (its own bursts past its last MAC, then ``run_after[:, c]``).

    For the contexts ``rows`` and ``chunks`` describe (1-d arrays); chunk c holds rows c x per .. (c + 1) x per
    - 1 of the phase (per = ceil(rows / chunks), the partial row last), as ``programs._pass_program`` splits
    them. Identical chunks (the full ones of most contexts) are timed once."""
    g = geometry
    last_partial = rows.last_macs > 0
    n_rows = rows.full_rows + last_partial
    per = -(-n_rows // chunks)
    c = np.arange(run_after.shape[1])
    n = np.clip(np.minimum((c + 1) * per[:, None], n_rows[:, None]) - c * per[:, None], 0, None)
    partial = last_partial[:, None] & (n > 0) & ((c + 1) * per[:, None] >= n_rows[:, None])
    last_macs = np.where(partial, rows.last_macs[:, None], 0)
    last_bursts = np.where(partial, rows.last_bursts[:, None], 0)
    # one number per distinct chunk (n - partial, last_macs, last_bursts), to time each once
    key_bursts = int(last_bursts.max()) + 1
    keys = ((n - partial) * (g.row_bursts + 1) + last_macs) * key_bursts + last_bursts
    unique, index = np.unique(keys, return_inverse=True)
    full, rest = np.divmod(unique, (g.row_bursts + 1) * key_bursts)
    act = _last_act(g)
    prea_sums, tails, delays = (a[index.reshape(n.shape)] for a in chunk_timer()(
        full, rest // key_bursts, rest % key_bursts, g.row_bursts, rows.bursts_full, lag, act, g.trcd,
        g.tccd_l, g.tras, g.trtp, g.trp, g.burst_cycles))
    # a row's exposure grows by the same amount per cycle it stays open past its last ACT (row_segment)
    open_cost = max(0, g.trtp - g.tccd_l)
    at_act = int(row_segment(g, g.banks_per_chip, act, act, 0, open_cost).exposure)
    per_open = int(row_segment(g, g.banks_per_chip, act, act + 1, 0, open_cost).exposure) - at_act
    cycles = prea_sums + n * g.trp + bus_run_cycles(g, tails + run_after, delays).cycles
    exposure = n * at_act + (prea_sums - n * act) * per_open
    return Timed(cycles.sum(axis=1), exposure.sum(axis=1))


def _bus_bound_unit(plan: CallPlan, unit: PassCounts, geometry: RankGeometry, closed: Timed) -> Timed:
    """A pipelined unit where the rank bus is slower than the MACs (``_bus_bound``): timed chunk by chunk.

    There a row's time depends on where its bursts fall: bursts before a row's first MAC overlap the tRCD
    after its last ACT, a gap between two MACs with more bursts than fit in tCCD_L stretches the row, bursts
    after its last MAC hold back its PREA, a run of bursts after a PREA may wait for a bus still busy, and in
    a call's last chunk the bursts per MAC are not the same in every row. Elsewhere ``closed`` (the per-row
    closed form, exact there) stands."""
    slow = _bus_bound(geometry, unit.k_rows) | _bus_bound(geometry, unit.v_rows)
    slow = np.broadcast_to(slow, unit.chunks.shape).ravel()
    if not slow.any():
        return closed
    pick = np.flatnonzero(slow)

    def rows_at(rows: RowCounts) -> RowCounts:
        return RowCounts(rows.full_rows.ravel()[pick], rows.last_macs.ravel()[pick], rows.bursts_full,
                         rows.last_bursts.ravel()[pick])

    chunks = unit.chunks.ravel()[pick]
    c = np.arange(chunks.max())
    # after each V chunk its partial outputs, and after the last one the next unit's q slices
    outs = np.where(c < chunks[:, None], unit.out_bursts, 0) + np.where(c == chunks[:, None] - 1, unit.q_bursts, 0)
    exact = _timed_phase(geometry, rows_at(unit.k_rows), chunks, plan.mapping.cols_per_token, np.zeros_like(outs)) \
        + _timed_phase(geometry, rows_at(unit.v_rows), chunks, 0, outs)
    cycles = closed.cycles.copy().ravel()
    exposure = closed.exposure.copy().ravel()
    cycles[pick] = exact.cycles
    exposure[pick] = exact.exposure
    return Timed(cycles.reshape(closed.cycles.shape), exposure.reshape(closed.exposure.shape))


def _unit_cycles(plan: CallPlan, unit: PassCounts, geometry: RankGeometry) -> Timed:
    """DRAM cycles of one (round, pass) of a bank-level program, segment by segment.

    A unit ends with its outputs read out after a PREA and the next unit begins by loading its q
    slices, so the two form one run of rank-bus bursts before the next ACT: counted together.
    """
    g = geometry
    last_run = bus_run_cycles(g, unit.out_bursts + unit.q_bursts)
    if plan.features.pipelining:
        k = _rows_cycles(g, unit.k_rows, serial=False)
        v = _rows_cycles(g, unit.v_rows, serial=False)
        outs = (unit.chunks - 1) * bus_run_cycles(g, unit.out_bursts) + last_run
        return _bus_bound_unit(plan, unit, g, k + v + outs + _chunk_tails_cycles(plan, unit, g))
    k = _rows_cycles(g, unit.k_rows, serial=True)
    s = transfer_cycles(g, unit.s_bursts, "WR")
    if plan.features.relayout == "cpu":
        s = s + transfer_cycles(g, unit.s_bursts, "RD") + transfer_cycles(g, unit.s_bursts, "WR")
    rows = unit.v_rows
    loads = rows.full_rows * transfer_cycles(g, rows.bursts_full, "RD") + transfer_cycles(
        g, np.where(rows.last_macs > 0, rows.last_bursts, 0), "RD")
    v = _rows_cycles(g, rows, serial=False)
    return k + s + loads + v + last_run


def dram_cycles(plan: CallPlan, geometry: RankGeometry) -> np.ndarray:
    """Cycles the engine needs for the call's program, refresh excluded."""
    return dram_segments(plan, geometry).cycles


def dram_segments(plan: CallPlan, geometry: RankGeometry) -> Timed:
    """The call's program, segment by segment: its cycles (refresh excluded) and its refresh exposure."""
    g = geometry
    total = transfer_cycles(g, plan.host_in_bursts, "WR") + transfer_cycles(g, plan.host_out_bursts, "RD")
    if plan.features.relayout == "cpu":
        half = plan.relayout_extra_in_bursts // 2
        total = total + transfer_cycles(g, half, "RD") + transfer_cycles(g, half, "WR")
        total = total + transfer_cycles(g, plan.relayout_extra_out_bursts, "WR")
    if plan.mapping is None:
        return total + rank_read_cycles(g, plan.rank_read_bursts)
    for unit in plan.passes:
        total = total + unit.repeat * _unit_cycles(plan, unit, g)
    return total


def rank_pu_cycles(plan: CallPlan, pim: PIMSpec) -> tuple[np.ndarray, np.ndarray]:
    """The rank PU's busy cycles (adder and softmax units) and its final cross-chunk normalisation.

    Not timed by the DRAM engine (the rank PU is logic on the buffer chip): the adder takes every
    partial score (N_hc per score) at ``adder_elements_per_cycle``, the softmax unit every score at
    ``softmax_elements_per_cycle``; at the end the partial outputs of the chunks are combined
    (heads x head_dim x chunks values through the adder). R-PIM's PU is taken to keep pace with the
    rank bus, as the paper's 1.6 TB/s figure assumes.
    """
    zeros = np.zeros(plan.context_tokens.shape, dtype=np.float64)
    if plan.mapping is None:
        return zeros, zeros
    rpu = pim.rank_pu
    busy = zeros.copy()
    final = zeros.copy()
    for unit in plan.passes:
        scores = plan.context_tokens * unit.heads * plan.mapping.chip_groups
        busy += unit.repeat * (scores * plan.mapping.n_hc / rpu.adder_elements_per_cycle
                               + scores / rpu.softmax_elements_per_cycle)
        final = np.maximum(final, unit.chunks)
    final = final * plan.heads * plan.mapping.head_dim / rpu.adder_elements_per_cycle
    return busy, final


def refresh_cost_cycles(program: Timed, geometry: RankGeometry) -> np.ndarray:
    """What one REF costs the program on average over where it falls: tRFC, plus what closing and re-opening
    the banks it finds open costs (``refresh``: the program's exposure over its cycles)."""
    cycles = np.asarray(program.cycles, dtype=np.float64)
    return geometry.trfc + np.asarray(program.exposure, dtype=np.float64) / np.maximum(cycles, 1)


def refresh_cycles(program: Timed, geometry: RankGeometry, mode: bool | str = True) -> np.ndarray:
    """Cycles refresh adds to ``program``; a REF is due every tREFI and costs ``refresh_cost_cycles``.

    ``mode`` True / "expected": the expected share for a call that starts anywhere in the refresh schedule
    (what a serving simulation wants): busy x cost / (tREFI - cost). "aligned": the schedule starts with
    the call (as in an engine run from cycle 0): REF k falls due at k x tREFI, when k x tREFI - (k - 1) x
    cost cycles of work are done, so it happens iff that is less than ``busy``:
    ceil((busy - cost) / (tREFI - cost)) - 1 refreshes. False: none.
    """
    busy = np.asarray(program.cycles, dtype=np.float64)
    if mode is False:
        return np.zeros_like(busy)
    cost = refresh_cost_cycles(program, geometry)
    if mode is True or mode == "expected":
        return busy * cost / (geometry.trefi - cost)
    if mode == "aligned":
        return np.maximum(0, np.ceil((busy - cost) / (geometry.trefi - cost)) - 1) * cost
    raise ConfigError(f"refresh mode {mode!r}: expected True, False, 'expected' or 'aligned'")


def call_cycles(plan: CallPlan, geometry: RankGeometry, pim: PIMSpec, refresh: bool | str = True) -> np.ndarray:
    """Cycles of one call: the program (closed form), refresh (see ``refresh_cycles``), the rank PU where
    it is not hidden."""
    program = dram_segments(plan, geometry)
    dram = program.cycles.astype(np.float64) + refresh_cycles(program, geometry, refresh)
    return combine_rank_pu(dram, plan, pim)


def combine_rank_pu(dram: np.ndarray, plan: CallPlan, pim: PIMSpec) -> np.ndarray:
    """Add the rank PU to the DRAM cycles: under them when pipelined (the slower sets the pace), after them
    otherwise; the final cross-chunk normalisation always at the end."""
    busy, final = rank_pu_cycles(plan, pim)
    if plan.features.pipelining:
        return np.maximum(dram, busy) + final
    return dram + busy + final


def _per_rank_heads(heads: int, gqa: int, ranks: int) -> int:
    """Query heads on the busiest rank when a layer's KV heads are split over ``ranks`` ranks."""
    if ranks < 1:
        raise ConfigError(f"ranks must be >= 1 (got {ranks})")
    if heads < 1 or gqa < 1 or heads % gqa:
        raise ConfigError(f"heads ({heads}) must be a positive multiple of gqa ({gqa})")
    return -(-(heads // gqa) // ranks) * gqa


def attention_latency(context_tokens, heads: int, gqa: int, variant: str | None, spec, *, ranks: int = 1,
                      head_dim: int = 128, refresh: bool | str = True) -> np.ndarray:
    """Seconds of one decode-attention call: one layer of one request, ``heads`` query heads in groups of ``gqa``.

    Resources: the layer's KV heads sit on ``ranks`` ranks (1: the paper's placement, a request's layer
    whole on one rank of its rankset), split evenly; the call ends when the busiest rank ends. Each
    rank uses its own chips, bank PUs, rank PU and its own bus; the host's transfers (q, new k and v
    in, outputs back) go over that rank's channel. ``context_tokens`` may be an array (a batch of
    requests, each timed alone); ``variant`` None takes ``spec.pim.features``. ``spec`` is a
    :class:`~l3sim.hw.pim.system.PIMSystem`.
    """
    features = spec.pim.features if variant is None else variant_features(variant)
    plan = plan_call(context_tokens, _per_rank_heads(heads, gqa, ranks), gqa, features, spec.geometry, spec.pim,
                     head_dim=head_dim)
    cycles = call_cycles(plan, spec.geometry, spec.pim, refresh=refresh)
    return cycles.reshape(np.shape(context_tokens)) * spec.geometry.tck_s


def attention_cost_coefficients(heads: int, gqa: int, variant: str | None, spec, *, ranks: int = 1,
                                head_dim: int = 128, fit_tokens: tuple[int, int] = (4096, 131072)) -> tuple[float, float]:
    """``(fixed_s, per_token_s)`` with latency ~= fixed_s + per_token_s x context_tokens.

    The closed form is affine in the context between row-round boundaries (a row of every bank holds
    a fixed number of tokens), so the secant through ``fit_tokens`` is exact at both ends and within a
    row-round's duration elsewhere; the serving simulator sums it over a rank's requests.
    """
    lo, hi = fit_tokens
    with np.errstate(over="ignore", invalid="ignore"):
        t_lo, t_hi = attention_latency(np.array([lo, hi]), heads, gqa, variant, spec, ranks=ranks, head_dim=head_dim)
    if not (np.isfinite(t_hi) and 0 < t_lo < t_hi):  # the model left its range (e.g. integer overflow in cycles)
        raise NumericalError(f"PIM attention latency model ({variant}): {float(t_lo)!r} s at {lo} tokens and {float(t_hi)!r} s at "
                             f"{hi} tokens, not a positive time growing with the context; the DRAM timings or PIM "
                             "settings are outside the range it computes in")
    per_token = (t_hi - t_lo) / (hi - lo)
    return float(t_lo - per_token * lo), float(per_token)


def kv_capacity_tokens_per_rank(kv_bytes_per_token_per_layer: int, layers_on_rank: int, spec) -> int:
    """Tokens of one request's KV cache a rank can hold when ``layers_on_rank`` of its layers live there."""
    return int(spec.geometry.rank_capacity_bytes // (kv_bytes_per_token_per_layer * layers_on_rank))
