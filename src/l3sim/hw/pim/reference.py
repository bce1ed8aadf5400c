"""The reference: the PIM programs timed by the DRAM area's command-level engine (``l3sim.hw.dram``).

``build_program`` turns a call's engine-neutral program (``programs``) into the
engine's CommandStream; ``reference_latency`` simulates it. The engine also
measures the two intervals the bubble-free rule compares (``measured_intervals``)
and the streaming bank-PIM bandwidth of ``l3sim hw`` (``memory_report``).
"""

from __future__ import annotations

import numpy as np

from l3sim.errors import MissingDependencyError
from l3sim.hw.pim.latency import combine_rank_pu
from l3sim.hw.pim.ops import CMD_NAMES, Segment, concat, seg
from l3sim.hw.pim.plan import plan_call
from l3sim.hw.pim.programs import mac_row, program_segment
from l3sim.hw.pim.system import PIMSystem
from l3sim.spec.pim import PIMSpec, variant_features

STREAM_ROW_ROUNDS = 64  # rows of every bank streamed to measure the effective bank-PIM bandwidth (~76 us)


def _engine():
    try:
        from l3sim.hw.dram import commands, engine
    except ImportError as exc:
        raise MissingDependencyError(
            f"the DRAM command engine (l3sim.hw.dram) is needed for reference timings and is not available: {exc}"
        ) from None
    return commands, engine


def to_command_stream(segment: Segment, system: PIMSystem):
    """The engine's CommandStream for ``segment`` on rank 0 of channel 0 (bank group = bank mod groups)."""
    commands, _ = _engine()
    g = system.geometry
    codes = np.array([int(commands.Cmd[name]) for name in CMD_NAMES])
    bank = segment.bank.astype(np.int64)
    return commands.CommandStream(
        cmd=codes[segment.cmd], rank=np.zeros(len(segment), np.int64), bank_group=bank % g.bank_groups,
        bank=bank // g.bank_groups, row=segment.row, col=segment.col,
    )


def simulate_cycles(segment: Segment, system: PIMSystem, refresh: bool = True, refresh_phase: int = 0) -> int:
    """Total cycles the engine needs for ``segment`` (numba backend); ``refresh_phase``: how far into the
    refresh schedule it starts (``engine.simulate``)."""
    _, engine = _engine()
    stream = to_command_stream(segment, system)
    schedule = engine.simulate(stream, system.memory.dram, system.memory.ranks_per_channel, policy="fifo",
                               refresh=refresh, backend="numba", refresh_phase=refresh_phase)
    return int(schedule.total_cycles)


def build_program(context_tokens: int, heads: int, gqa: int, variant: str, memory, pim: PIMSpec | None = None):
    """The engine's CommandStream of one decode-attention call (see ``programs`` for what it does)."""
    system = PIMSystem(memory, pim or PIMSpec())
    plan = plan_call(int(context_tokens), heads, gqa, variant_features(variant), system.geometry, system.pim)
    return to_command_stream(program_segment(plan, system.geometry), system)


def reference_latency(context_tokens, heads: int, gqa: int, variant: str, spec: PIMSystem,
                      refresh: bool = True) -> np.ndarray:
    """Seconds of each call as the engine times its program, plus the rank PU's time as the fast model adds it."""
    tokens = np.atleast_1d(np.asarray(context_tokens, dtype=np.int64))
    out = np.empty(tokens.shape, dtype=np.float64)
    features = variant_features(variant)
    for i, n in enumerate(tokens):
        plan = plan_call(int(n), heads, gqa, features, spec.geometry, spec.pim)
        dram = simulate_cycles(program_segment(plan, spec.geometry), spec, refresh=refresh)
        out[i] = float(combine_rank_pu(np.array([dram], dtype=np.float64), plan, spec.pim)[0]) * spec.geometry.tck_s
    return out.reshape(np.shape(context_tokens))


def measured_intervals(system: PIMSystem) -> tuple[float, float]:
    """Cycles per PIM_MAC and per PIM_RD_RB, as the engine spaces them: the difference between runs of
    half a row and a whole row of each (no refresh)."""
    count = system.geometry.row_bursts // 2
    macs = [simulate_cycles(mac_row(system.geometry, 0, n), system, refresh=False) for n in (count, 2 * count)]
    reads = [simulate_cycles(seg("PIM_RD_RB", count=n), system, refresh=False) for n in (count, 2 * count)]
    return (macs[1] - macs[0]) / count, (reads[1] - reads[0]) / count


def stream_cycles_engine(system: PIMSystem, row_rounds: int = STREAM_ROW_ROUNDS) -> int:
    """Engine cycles to stream ``row_rounds`` full rows of every bank through the bank PUs, refresh included."""
    g = system.geometry
    rows = concat([mac_row(g, r, g.row_bursts) for r in range(row_rounds)])
    return simulate_cycles(rows, system, refresh=True)
