"""The host-traffic controller: legal schedules (both checkers), closed-form bandwidths and latencies,
Little's law, write draining and the row-hit cap, and the numba and Python twins command for command."""

from __future__ import annotations

import numpy as np
import pytest

from l3sim.errors import ConfigError
from l3sim.hw.dram.checker import check
from l3sim.hw.dram.commands import Cmd, CommandStream
from l3sim.hw.dram import controller_kernel as ck
from l3sim.hw.dram.controller import HOST_COMMANDS, ControllerConfig, Requests, controller_rules, run
from l3sim.hw.dram.engine import simulate
from l3sim.hw.dram.mapping import AddressMapping
from l3sim.hw.dram.rules import Scope, timing_rules
from l3sim.hw.dram.traces import pattern_requests

from dram_streams import dram_preset
from jedec_oracle import violations
from test_dram_rule_oracle import as_dicts, distinct_timings

NO_REFRESH = ControllerConfig(refresh="off")


def random_requests(seed: int, n: int, dram, channels: int, ranks: int, rows: int, gap: float) -> Requests:
    """Random reads (2/3) and writes over a few rows; arrivals with mean spacing ``gap`` (0: all at cycle 0)."""
    rng = np.random.default_rng(seed)
    org = dram.organisation
    arrival = np.cumsum(rng.integers(0, int(2 * gap) + 1, size=n)) if gap else np.zeros(n, np.int64)
    return Requests(is_write=(rng.random(n) < 1 / 3).astype(np.int64), arrival=arrival.astype(np.int64),
                    channel=rng.integers(channels, size=n), rank=rng.integers(ranks, size=n),
                    bank_group=rng.integers(org.bank_groups, size=n), bank=rng.integers(org.banks_per_group, size=n),
                    row=rng.integers(rows, size=n), col=rng.integers(org.column_accesses_per_row, size=n),
                    index=np.arange(n))


def chunks_of(requests: Requests, size: int):
    """``requests`` cut into chunks (the controller must not care where the cuts are)."""
    for start in range(0, len(requests), size):
        yield Requests(**{name: getattr(requests, name)[start:start + size] for name in requests.__dataclass_fields__})


CASES = [  # (seed, ranks, rows, mean arrival gap, config)
    (1, 2, 4, 0, ControllerConfig()),
    (2, 1, 64, 3, ControllerConfig(page_policy="closed", refresh="simultaneous")),
    (3, 4, 8, 0, ControllerConfig(read_queue=8, write_queue=4, row_hit_cap=2)),
    (4, 2, 2, 12, ControllerConfig(row_hit_cap=0, write_high_watermark=0.5, write_low_watermark=0.5)),
]


@pytest.mark.parametrize("case", CASES, ids=range(len(CASES)))
def test_twins_agree_command_for_command_and_both_checkers_pass(case):
    seed, ranks, rows, gap, config = case
    dram = distinct_timings()
    dram = dram.model_copy(update={"timing": dram.timing.model_copy(update={"tREFI": 2500, "tRFC": 150})})
    requests = random_requests(seed, 700, dram, 1, ranks, rows, gap)
    fast, fast_log = run(chunks_of(requests, 100), dram, 1, ranks, config, "numba", record=True)
    slow, slow_log = run(iter([requests]), dram, 1, ranks, config, "python", record=True)
    for name in ("cmd", "rank", "bank_group", "bank", "row", "col"):
        assert np.array_equal(getattr(fast_log.stream, name), getattr(slow_log.stream, name)), name
    assert np.array_equal(fast_log.time, slow_log.time) and np.array_equal(fast_log.request, slow_log.request)
    assert fast.as_dict() == slow.as_dict()
    assert fast.reads + fast.writes == len(requests) and sorted(fast_log.request[fast_log.request >= 0]) == list(
        range(len(requests)))
    if config.refresh != "off":
        assert fast.commands["REF"] >= fast.cycles // dram.timing.tREFI * ranks - ranks
    assert violations(as_dicts(fast_log.stream), fast_log.time.tolist(), dram.timing) == []


@pytest.mark.parametrize("seed", range(3))
def test_frfcfs_schedules_pass_the_engine_checker(ddr4, seed):
    requests = random_requests(seed, 400, ddr4, 2, 2, 5, 0)
    stream = CommandStream(cmd=np.where(requests.is_write == 1, Cmd.WR, Cmd.RD), channel=requests.channel,
                           rank=requests.rank, bank_group=requests.bank_group, bank=requests.bank, row=requests.row,
                           col=requests.col)
    schedule = simulate(stream, ddr4, 2, policy="frfcfs", refresh=True)
    assert check(stream, schedule, ddr4, 2, policy="frfcfs") == []


def one_request(dram, row: int, arrival: int, bank: int = 0, is_write: int = 0) -> dict:
    return dict(is_write=is_write, arrival=arrival, channel=0, rank=0, bank_group=bank % dram.organisation.bank_groups,
                bank=bank // dram.organisation.bank_groups, row=row, col=0)


def requests_from_dicts(rows: list[dict]) -> Requests:
    return Requests(**{k: np.array([r[k] for r in rows], np.int64) for k in rows[0]}, index=np.arange(len(rows)))


@pytest.mark.parametrize("preset", ["ddr4-3200", "ddr5-4800an", "distinct"])
def test_unloaded_latencies(preset):
    """Requests far apart in time: a closed bank costs tRCD + CL + tBL, a hit CL + tBL, a conflict tRP more."""
    dram = distinct_timings() if preset == "distinct" else dram_preset(preset)
    t = dram.timing
    trace = [one_request(dram, 5, 1000), one_request(dram, 5, 3000), one_request(dram, 6, 5000)]
    stats, log = run(iter([requests_from_dicts(trace)]), dram, 1, 1, NO_REFRESH, "python", record=True)
    rd = log.time[log.stream.cmd == Cmd.RD]
    assert (rd - np.array([1000, 3000, 5000])).tolist() == [t.tRCD, 0, t.tRP + t.tRCD]
    assert stats.latency_sum == 3 * (t.CL + t.tBL) + 2 * t.tRCD + t.tRP
    assert stats.row_hit_rate == pytest.approx(1 / 3)


@pytest.mark.parametrize("preset", ["ddr4-3200", "ddr5-4800an", "distinct"])
def test_row_conflict_pattern_is_one_request_per_trc(preset):
    """Every request a new row of one bank: ACT, RD, PRE per request, one per max(tRC, tRAS + tRP,
    tRCD + tRTP + tRP) (tRC for JEDEC bins); the last data tRCD + CL + tBL after the last ACT."""
    dram = distinct_timings() if preset == "distinct" else dram_preset(preset)
    t = dram.timing
    n = 300
    mapping = AddressMapping.build("RoBaRaCoCh", dram, 1, 1)
    stats, _ = run(pattern_requests("row-conflict", n, mapping), dram, 1, 1, NO_REFRESH)
    period = max(t.tRC, t.tRAS + t.tRP, t.tRCD + t.tRTP + t.tRP)
    assert stats.cycles == (n - 1) * period + t.tRCD + t.CL + t.tBL
    assert stats.commands == {"ACT": n, "PRE": n - 1, "PREA": 0, "RD": n, "WR": 0, "REF": 0}
    assert stats.row_hit_rate == 0


BANK_GROUP_LOWEST = "rorabachcobg"  # consecutive bursts rotate over the bank groups


@pytest.mark.parametrize("preset", ["ddr4-3200", "ddr5-4800an", "ddr5-6400"])
@pytest.mark.parametrize("kind", ["seq-read", "seq-write"])
def test_streaming_over_bank_groups_runs_at_tccd_s(preset, kind):
    """Sequential bursts spread over the bank groups: one column command per tCCD_S (tCCD_S_WR for writes),
    which is the bus peak (tCCD_S = tBL in these bins): the last data at tRCD + (n - 1) tCCD_S + CL (CWL)
    + tBL."""
    dram = dram_preset(preset)
    t = dram.timing
    n = 4000
    mapping = AddressMapping.build(BANK_GROUP_LOWEST, dram, 1, 1)
    stats, _ = run(pattern_requests(kind, n, mapping), dram, 1, 1, NO_REFRESH)
    gap, latency = (t.tCCD_S, t.CL) if kind == "seq-read" else (t.ccd_s_wr, t.CWL)
    assert stats.cycles == t.tRCD + (n - 1) * gap + latency + t.tBL
    peak = dram.subchannel_peak_bw_bytes_per_s
    # tCK_ns is rounded in the presets (0.4167 ns for 4800 MT/s): the two agree to 1e-4
    assert stats.bandwidth_bytes_per_s == pytest.approx(peak * n * t.tBL / stats.cycles, rel=1e-3)


@pytest.mark.parametrize("preset", ["ddr4-3200", "ddr5-4800an"])
def test_random_reads_stay_under_the_activation_bound(preset):
    """Random reads need an ACT each: at most 4 per tFAW and one per tRRD_S per rank; the engine reaches
    most of that bound (its queue of 32 finds a free bank most of the time)."""
    dram = dram_preset(preset)
    t = dram.timing
    mapping = AddressMapping.build("RoBaRaCoCh", dram, 1, 1)
    stats, _ = run(pattern_requests("rand-read", 20000, mapping, seed=3), dram, 1, 1, NO_REFRESH)
    acts_per_cycle = min(4 / t.tFAW, 1 / t.tRRD_S, dram.organisation.banks_per_chip / t.tRC)
    bound = acts_per_cycle * dram.organisation.burst_bytes_per_rank / dram.tck_s
    assert 0.8 * bound < stats.bandwidth_bytes_per_s <= bound


def test_littles_law_and_latencies_from_the_log(ddr4):
    """Reads in the system (time average) = read throughput x mean latency, exactly: the controller
    integrates occupancy and sums latencies separately. Latencies checked against the issued RDs."""
    requests = random_requests(11, 3000, ddr4, 1, 2, 1000, 15)
    stats, log = run(iter([requests]), ddr4, 1, 2, ControllerConfig(read_queue=64, write_queue=64), "numba",
                     record=True)
    assert stats.read_occupancy_area == stats.latency_sum
    assert stats.mean_reads_in_system == pytest.approx(stats.reads / stats.cycles * stats.mean_read_latency)
    t = ddr4.timing
    rd = log.stream.cmd == Cmd.RD
    served = log.request[rd]
    latency = log.time[rd] + t.CL + t.tBL - requests.arrival[served]  # queues never fill: enqueue = arrival
    assert latency.sum() == stats.latency_sum
    assert stats.read_latency_percentile(50) == np.percentile(latency, 50, method="inverted_cdf")
    assert stats.read_latency_percentile(99) == np.percentile(latency, 99, method="inverted_cdf")
    seconds = stats.cycles * ddr4.tck_s
    assert stats.bandwidth_bytes_per_s == pytest.approx(len(requests) * 64 / seconds)


@pytest.mark.parametrize("kind", ["seq-read", "rand-read"])
def test_littles_law_back_to_back(ddr4, kind):
    """All requests at cycle 0: reads enter as the queue frees and the last 32 drain with none entering.
    The integral of reads in the system still equals the sum of their latencies (it once lost the reads
    that completed while more than CL + tBL + 1 of them finished with no read entering)."""
    mapping = AddressMapping.build("RoBaRaCoCh", ddr4, 1, 1)
    for backend in ("numba", "python"):
        stats, _ = run(pattern_requests(kind, 300, mapping), ddr4, 1, 1, ControllerConfig(), backend)
        assert stats.reads == 300
        assert stats.read_occupancy_area == stats.latency_sum


def test_writes_drain_between_the_watermarks(ddr4):
    """A 2:1 mix back to back: writes go out in drains of at least (start - stop + 1) writes (Ramulator 2's
    watermarks: from more than 80 % of 32 to fewer than 20 %), and the read/write direction changes about
    twice per drain, not every few writes."""
    config = ControllerConfig(refresh="off")
    mapping = AddressMapping.build("RoBaRaCoCh", ddr4, 1, 1)
    stats, log = run(pattern_requests("mix", 6000, mapping, seed=1), ddr4, 1, 1, config, record=True)
    per_drain = config.drain_start - config.drain_stop + 1
    assert (config.drain_start, config.drain_stop) == (26, 7)
    assert stats.writes / stats.write_drains >= per_drain
    column = log.stream.cmd[(log.stream.cmd == Cmd.RD) | (log.stream.cmd == Cmd.WR)]
    switches = np.count_nonzero(np.diff(column.astype(np.int64)))
    assert switches <= 2 * stats.write_drains + 1


def test_no_read_starves_behind_row_hits(ddr4):
    """A read to another row waits behind a stream of hits to the open row: with the cap it is served after
    at most row_hit_cap hits; without it, only when the hits stop."""
    t = ddr4.timing
    hits = 200
    trace = [one_request(ddr4, 0, 0), one_request(ddr4, 1, 1)]
    trace += [one_request(ddr4, 0, 2 + k * t.tCCD_L) for k in range(hits)]
    requests = requests_from_dicts(trace)
    waits = {}
    for cap in (0, 8):
        config = ControllerConfig(row_hit_cap=cap, refresh="off")
        _, log = run(iter([requests]), ddr4, 1, 1, config, "python", record=True)
        waits[cap] = int(log.time[log.request == 1][0]) - 1
    bound = max(t.tRAS, t.tRCD + 8 * t.tCCD_L + t.tRTP) + t.tRP + t.tRCD
    assert waits[8] <= bound
    assert waits[0] >= hits * t.tCCD_L


def test_bad_configuration_and_requests_are_reported():
    with pytest.raises(ConfigError, match="watermarks"):
        ControllerConfig(write_high_watermark=0.1, write_low_watermark=0.5)
    with pytest.raises(ConfigError, match="refresh"):
        ControllerConfig(refresh="sometimes")  # type: ignore[arg-type]
    dram = dram_preset("ddr4-3200")
    bad = requests_from_dicts([one_request(dram, 0, 5), one_request(dram, 0, 2)])
    with pytest.raises(ConfigError, match="non-decreasing"):
        run(iter([bad]), dram, 1, 1, NO_REFRESH, "python")
    # the kernel packs (cycle - now) into 22 bits: with one rank a gap of 2^22 / 4 - tCMD or more is refused,
    # not mis-scheduled
    slow_refresh = dram.model_copy(update={"timing": dram.timing.model_copy(update={"tRFC": 1 << 20,
                                                                                    "tREFI": 1 << 21})})
    with pytest.raises(ConfigError, match=r"with 1 rank\(s\) the controller handles timing gaps below 1048575 "
                                          r"cycles; the largest here is 1048576"):
        run(iter([requests_from_dicts([one_request(dram, 0, 5)])]), slow_refresh, 1, 1, ControllerConfig())


def test_reads_do_not_starve_behind_write_drains(ddr4):
    """Half the requests writes, back to back: a read waits at most for every request that can be ahead of it
    (both queues full, plus row_hit_cap hits that may pass it), each at most one request alone in a bank
    (a write's recovery, PRE, ACT, burst), plus one refresh."""
    t = ddr4.timing
    config = ControllerConfig()
    rng = np.random.default_rng(5)
    n = 4000
    requests = Requests(is_write=(rng.random(n) < 0.5).astype(np.int64), arrival=np.zeros(n, np.int64),
                        channel=np.zeros(n, np.int64), rank=np.zeros(n, np.int64),
                        bank_group=rng.integers(4, size=n), bank=rng.integers(4, size=n),
                        row=rng.integers(64, size=n), col=rng.integers(128, size=n), index=np.arange(n))
    stats, _ = run(iter([requests]), ddr4, 1, 1, config)
    alone = max(t.tRAS, t.CWL + t.tBL + t.tWR) + t.tRP + t.tRCD + max(t.CL, t.CWL) + t.tBL
    bound = (config.read_queue + config.write_queue + config.row_hit_cap) * alone + t.tRFC
    assert stats.write_drains > 10
    assert stats.latency_max <= bound


# the scopes whose rules bind a pair of commands in each relation (rules.Scope's definitions)
BINDING_SCOPES = {"same bank": (Scope.BANK, Scope.BANK_GROUP, Scope.RANK, Scope.CHANNEL),
                  "same bank group": (Scope.BANK_GROUP, Scope.RANK, Scope.CHANNEL),
                  "same rank": (Scope.RANK, Scope.CHANNEL), "other rank": (Scope.OTHER_RANK, Scope.CHANNEL)}


@pytest.mark.parametrize("preset", ["ddr4-3200", "ddr5-4800an", "distinct"])
def test_controller_rule_table_keeps_every_binding_gap(preset):
    """The controller's pruned rule table gives every pair of host commands, in every relation, the same
    minimum gap as the engine's full rule table."""
    timing = (distinct_timings() if preset == "distinct" else dram_preset(preset)).timing
    start, later, gap = controller_rules(timing)
    pruned = {}
    for earlier in range(len(start) // ck.SCOPES):
        for scope in Scope:
            group = earlier * ck.SCOPES + int(scope)
            for k in range(start[group], start[group + 1]):
                pruned[earlier, int(later[k]), scope] = max(pruned.get((earlier, int(later[k]), scope), 0), gap[k])
    full = {}
    for rule in timing_rules(timing):
        key = (int(rule.earlier), int(rule.later), rule.scope)
        full[key] = max(full.get(key, 0), rule.gap)
    checked = 0
    for earlier in HOST_COMMANDS:
        for after in HOST_COMMANDS:
            for relation, scopes in BINDING_SCOPES.items():
                want = max(full.get((int(earlier), int(after), s), 0) for s in scopes)
                got = max(pruned.get((int(earlier), int(after), s), 0) for s in scopes)
                assert got == want, (earlier.name, after.name, relation)
                checked += want > 0
    assert checked > 40
    assert len(later) < sum(1 for r in timing_rules(timing) if r.later in HOST_COMMANDS)
