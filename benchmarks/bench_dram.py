"""Speed of the DRAM command engine (numba backend): long PIM streams and random host traffic.

Targets: at least 10 million commands per second for long PIM streams (issue 3) and for random reads
through the host-traffic controller (issue 16).
The commands-per-second figure is printed from ``benchmark.stats`` in docs/performance.md.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from l3sim.hw.dram.commands import concatenate
from l3sim.hw.dram.controller import ControllerConfig, run
from l3sim.hw.dram.engine import simulate
from l3sim.hw.dram.mapping import AddressMapping
from l3sim.hw.dram.traces import pattern_requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "hw" / "dram"))
from dram_streams import dram_preset, mac_rounds, random_stream  # noqa: E402

DDR4 = dram_preset("ddr4-3200")
# 40,000 row-rounds of 16 ACT + 128 PIM_MAC + PREA = 5.8 M commands (5.1 M PIM_MACs), one rank of four
PIM_STREAM = concatenate([mac_rounds(DDR4, 1, 128)] * 40_000)
HOST_STREAM = random_stream(0, 200_000, DDR4, 4, 4, pim=False)


@pytest.mark.parametrize("refresh", [True, False])
def test_pim_stream_5_8m_commands(benchmark, refresh):
    simulate(mac_rounds(DDR4, 1, 128), DDR4, 4)  # compile (or load the cache) first
    schedule = benchmark.pedantic(simulate, args=(PIM_STREAM, DDR4, 4), kwargs={"refresh": refresh}, rounds=5)
    assert len(schedule.issue_cycle) == len(PIM_STREAM)
    benchmark.extra_info["commands_per_s"] = len(PIM_STREAM) / benchmark.stats.stats.min


def test_random_host_stream_200k_commands(benchmark):
    schedule = benchmark.pedantic(simulate, args=(HOST_STREAM, DDR4, 4), rounds=5)
    assert schedule.total_cycles > 0
    benchmark.extra_info["commands_per_s"] = len(HOST_STREAM) / benchmark.stats.stats.min


def _serve_timed(chunks, dram, config, cpu_s: list[float]):
    """``controller.run`` over decoded requests; appends the thread CPU time it took (steadier than wall time on
    a shared machine)."""
    start = time.thread_time()
    stats, _ = run(iter(chunks), dram, 1, 1, config)
    cpu_s.append(time.thread_time() - start)
    return stats


@pytest.mark.parametrize("preset", ["ddr4-3200", "ddr5-4800an"])
def test_controller_kernel_random_reads_2m(benchmark, preset):
    """The controller alone (issue 16's target, >= 10 M commands/s): two million random reads (``l3sim dram
    pattern rand-read``, seed 0, RoBaRaCoCh, one channel, one rank, queues 32/32, staggered refresh), generated
    and decoded before timing; about three commands per read (PRE, ACT, RD). The kernel is compiled (or loaded
    from numba's cache) first."""
    dram = dram_preset(preset)
    mapping = AddressMapping.build("RoBaRaCoCh", dram, 1, 1)
    config = ControllerConfig()
    run(pattern_requests("rand-read", 1000, mapping), dram, 1, 1, config)
    chunks = list(pattern_requests("rand-read", 2_000_000, mapping))
    cpu_s: list[float] = []
    stats = benchmark.pedantic(_serve_timed, args=(chunks, dram, config, cpu_s), rounds=5)
    commands = sum(stats.commands.values())
    benchmark.extra_info["commands"] = commands
    benchmark.extra_info["commands_per_s"] = commands / benchmark.stats.stats.min
    benchmark.extra_info["commands_per_cpu_s"] = commands / min(cpu_s)


@pytest.mark.parametrize("preset", ["ddr4-3200", "ddr5-4800an"])
def test_controller_random_reads_1m(benchmark, preset):
    """One million random reads (the ``rand-read`` pattern) through the FR-FCFS controller, refresh on:
    about three commands per read (PRE, ACT, RD). Pattern generation and address decoding included (end to
    end, as ``l3sim dram pattern`` + ``replay`` without the text round trip)."""
    dram = dram_preset(preset)
    mapping = AddressMapping.build("RoBaRaCoCh", dram, 1, 1)
    config = ControllerConfig()
    run(pattern_requests("rand-read", 1000, mapping), dram, 1, 1, config)  # compile (or load the cache) first
    stats, _ = benchmark.pedantic(lambda: run(pattern_requests("rand-read", 1_000_000, mapping), dram, 1, 1, config),
                                  rounds=3)
    commands = sum(stats.commands.values())
    benchmark.extra_info["commands"] = commands
    benchmark.extra_info["commands_per_s"] = commands / benchmark.stats.stats.min
