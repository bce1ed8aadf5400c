"""``l3sim hw``: capacity and bandwidth of a DIMM-PIM host memory, peaks from the spec, streaming from the engine."""

from __future__ import annotations

from l3sim.hw.pim.geometry import RankGeometry
from l3sim.hw.pim.latency import mac_row_cycles, refresh_cycles
from l3sim.hw.pim.mapping import bubble_free_n_hc_bound, head_mapping
from l3sim.hw.pim.reference import STREAM_ROW_ROUNDS, measured_intervals, stream_cycles_engine
from l3sim.hw.pim.system import PIMSystem
from l3sim.spec.pim import PIMSpec

def peak_bandwidths(geometry: RankGeometry) -> dict[str, float]:
    """The three peaks the paper quotes (Table II / section II), from the organisation and timing.

    CPU: every channel's bus; R-PIM: every rank's bus (one PU per rank on its buffer chip); bank PIM:
    one column of every bank per tCCD_L.
    """
    g = geometry
    return {
        "cpu_bw_bytes_per_s": g.channels * g.channel_bw_bytes_per_s,
        "rank_pim_bw_bytes_per_s": g.ranks * g.channel_bw_bytes_per_s,
        "bank_pim_bw_bytes_per_s": g.ranks * g.chips_per_rank * g.banks_per_chip * g.bank_pu_bw_bytes_per_s,
    }


def stream_bytes_per_rank(geometry: RankGeometry, row_rounds: int = STREAM_ROW_ROUNDS) -> int:
    """Bytes the bank PUs of one rank read when streaming ``row_rounds`` full rows of every bank."""
    return row_rounds * geometry.row_bursts * geometry.burst_bytes_per_rank * geometry.banks_per_chip


def stream_cycles_model(geometry: RankGeometry, row_rounds: int = STREAM_ROW_ROUNDS) -> float:
    """Closed-form cycles of the streaming program (row-rounds of PIM_MACs, refresh included)."""
    rows = row_rounds * mac_row_cycles(geometry, geometry.row_bursts)
    return float(rows.cycles) + float(refresh_cycles(rows, geometry, "aligned"))


def memory_report(memory, pim: PIMSpec | None = None, engine: bool = True) -> dict:
    """Capacity, peak bandwidths, streaming bank-PIM bandwidth and the head mappings of a host memory."""
    system = PIMSystem(memory, pim or PIMSpec())
    g = system.geometry
    peaks = peak_bandwidths(g)
    per_rank = stream_bytes_per_rank(g)
    model_bw = g.ranks * per_rank / (stream_cycles_model(g) * g.tck_s)
    out: dict = {
        "capacity_bytes": g.ranks * g.rank_capacity_bytes,
        "channels": g.channels,
        "ranks": g.ranks,
        **peaks,
        "effective_bank_pim_bw_model_bytes_per_s": model_bw,
    }
    if engine:
        engine_bw = g.ranks * per_rank / (stream_cycles_engine(system) * g.tck_s)
        out["effective_bank_pim_bw_bytes_per_s"] = engine_bw
        out["bank_pim_efficiency"] = engine_bw / peaks["bank_pim_bw_bytes_per_s"]
        mac_interval, read_interval = measured_intervals(system)
        out["engine_pim_mac_interval_cycles"] = mac_interval
        out["engine_result_read_interval_cycles"] = read_interval
        for label, gqa in (("mha", 1), ("gqa8", 8)):
            out[f"bubble_free_n_hc_bound_{label}"] = bubble_free_n_hc_bound(
                g, gqa, system.pim.bank_pu.accumulator_bytes, mac_interval, read_interval)
    for label, gqa in (("mha", 1), ("gqa8", 8)):
        mapping = head_mapping(gqa, g, system.pim)
        out[f"n_hc_{label}"] = mapping.n_hc
    return out


