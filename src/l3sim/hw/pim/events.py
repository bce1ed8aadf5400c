"""Event counts of one decode-attention call, for the energy model: what each command does, counted.

Counted per rank-wide command (one ACT opens one bank in every chip of the
rank; one PIM_MAC reads one column of every bank of every chip). The counts
follow the programs of ``programs`` exactly (a test builds the programs and
counts their commands); the derived physical events say what moved:

- ``activations``: bank activations, chips included (ACT commands x chips);
- ``reads`` / ``writes``: bytes read from / written to the DRAM arrays by
  ordinary column commands (RD, PIM_LD_SB / WR), whole rank;
- ``pim_read_bytes``: bytes the bank PUs read from their banks;
- ``macs``: multiply-accumulates of the bank PUs (elements read x N_cmr);
- ``channel_bytes``: bytes the host moves over the channel;
- ``rank_bus_bytes``: bytes between the rank PU and the chips (PIM_RD_RB,
  PIM_WR_SB, the rank PU's S write-back, R-PIM's reads).
"""

from __future__ import annotations

import numpy as np

from l3sim.hw.pim.geometry import RankGeometry
from l3sim.hw.pim.plan import CallPlan, RowCounts, plan_call
from l3sim.spec.pim import variant_features


def _transfer(geometry: RankGeometry, bursts) -> tuple[np.ndarray, np.ndarray]:
    """ACT and PREA commands of ``bus_transfer``: one bank per bank group, a row of each at a time."""
    bursts = np.asarray(bursts, dtype=np.int64)
    per_group = geometry.bank_groups * geometry.row_bursts
    full, rest = np.divmod(bursts, per_group)
    acts = full * geometry.bank_groups + np.minimum(rest, geometry.bank_groups)
    return acts, full + (rest > 0)


def _rows(counts: RowCounts) -> np.ndarray:
    return counts.full_rows + (counts.last_macs > 0)


def command_counts(plan: CallPlan, geometry: RankGeometry) -> dict[str, np.ndarray]:
    """Commands of each kind in the call's program, by name as in ``ops.CMD_NAMES``."""
    z = np.zeros(plan.context_tokens.shape, dtype=np.int64)
    c = {name: z.copy() for name in ("ACT", "PRE", "PREA", "RD", "WR", "PIM_WR_SB", "PIM_LD_SB", "PIM_MAC",
                                     "PIM_RD_RB")}

    def transfer(kind: str, bursts) -> None:
        acts, preas = _transfer(geometry, bursts)
        c["ACT"] += acts
        c["PREA"] += preas
        c[kind] += np.asarray(bursts, dtype=np.int64)

    transfer("WR", plan.host_in_bursts)
    transfer("RD", plan.host_out_bursts)
    if plan.features.relayout == "cpu":
        transfer("RD", plan.relayout_extra_in_bursts // 2)
        transfer("WR", plan.relayout_extra_in_bursts // 2)
        transfer("WR", plan.relayout_extra_out_bursts)
    banks = geometry.banks_per_chip
    if plan.mapping is None:
        rounds = -(-plan.rank_read_bursts // (banks * geometry.row_bursts))
        c["ACT"] += rounds * banks
        c["PREA"] += rounds
        c["RD"] += plan.rank_read_bursts
        return c
    for unit in plan.passes:
        r = unit.repeat
        rows = _rows(unit.k_rows) + _rows(unit.v_rows)
        c["ACT"] += r * rows * banks
        c["PREA"] += r * rows
        k_macs = unit.k_rows.full_rows * geometry.row_bursts + unit.k_rows.last_macs
        v_macs = unit.v_rows.full_rows * geometry.row_bursts + unit.v_rows.last_macs
        c["PIM_MAC"] += r * (k_macs + v_macs)
        k_bursts = unit.k_rows.full_rows * unit.k_rows.bursts_full + unit.k_rows.last_bursts
        v_bursts = unit.v_rows.full_rows * unit.v_rows.bursts_full + unit.v_rows.last_bursts
        c["PIM_RD_RB"] += r * (k_bursts + unit.chunks * unit.out_bursts)
        c["PIM_WR_SB"] += r * unit.q_bursts
        if plan.features.pipelining:
            c["PIM_WR_SB"] += r * v_bursts
            continue
        writes = 3 if plan.features.relayout == "cpu" else 1  # write-back, plus the CPU's read and re-write
        for _ in range(writes):
            acts, preas = _transfer(geometry, unit.s_bursts)
            c["ACT"] += r * acts
            c["PREA"] += r * preas
        c["WR"] += r * unit.s_bursts * (2 if plan.features.relayout == "cpu" else 1)
        c["RD"] += r * unit.s_bursts * (1 if plan.features.relayout == "cpu" else 0)
        full_acts, full_preas = _transfer(geometry, unit.v_rows.bursts_full)
        last_acts, last_preas = _transfer(geometry, np.where(unit.v_rows.last_macs > 0, unit.v_rows.last_bursts, 0))
        c["ACT"] += r * (unit.v_rows.full_rows * full_acts + last_acts)
        c["PREA"] += r * (unit.v_rows.full_rows * full_preas + last_preas)
        c["PIM_LD_SB"] += r * v_bursts
    return c


def event_counts(context_tokens, heads: int, gqa: int, variant: str | None, spec, *,
                 head_dim: int = 128) -> dict[str, np.ndarray]:
    """Per-call event counts (see the module docstring), arrays shaped like ``context_tokens``."""
    g = spec.geometry
    features = spec.pim.features if variant is None else variant_features(variant)
    plan = plan_call(context_tokens, heads, gqa, features, g, spec.pim, head_dim=head_dim)
    c = command_counts(plan, g)
    burst = g.burst_bytes_per_rank
    host_bursts = plan.host_in_bursts + plan.host_out_bursts + plan.relayout_extra_in_bursts \
        + plan.relayout_extra_out_bursts
    cpu_s = 0
    if plan.mapping is not None and plan.features.relayout == "cpu":
        cpu_s = sum(unit.repeat * unit.s_bursts * 2 for unit in plan.passes)
    channel = (host_bursts + cpu_s) * burst
    rank_bus = (c["PIM_RD_RB"] + c["PIM_WR_SB"] + c["RD"] + c["WR"]) * burst - channel
    n_cmr = plan.mapping.n_cmr if plan.mapping else plan.heads // plan.kv_heads
    pim_bytes = c["PIM_MAC"] * burst * g.banks_per_chip
    elements = pim_bytes // (plan.mapping.element_bytes if plan.mapping else 2)
    rank_pu_elements = plan.rank_read_bursts * burst // 2 * n_cmr
    counts = {f"{name.lower()}_commands": value for name, value in c.items()}
    counts.update(
        activations=c["ACT"] * g.chips_per_rank,
        reads=(c["RD"] + c["PIM_LD_SB"]) * burst,
        writes=c["WR"] * burst,
        pim_read_bytes=pim_bytes,
        macs=elements * n_cmr + rank_pu_elements,
        channel_bytes=np.broadcast_to(np.asarray(channel, dtype=np.int64), c["ACT"].shape).copy(),
        rank_bus_bytes=rank_bus,
    )
    shape = np.shape(context_tokens)
    return {k: np.asarray(v).reshape(shape) for k, v in counts.items()}
