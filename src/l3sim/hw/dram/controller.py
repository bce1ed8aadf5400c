"""A memory controller for host traffic (reads and writes with arrival cycles), per bus channel.

What it models (docs/dram.md, "Controller for host traffic", says why each choice is what it is):

- a read queue and a write queue (``ControllerConfig.read_queue`` / ``write_queue`` entries); requests enter
  in trace order at their arrival cycle, or when their queue has room (the front end then stalls);
- write draining: the controller serves writes from when the write queue holds more than
  ``write_high_watermark`` of its entries (or no read is waiting) until it holds fewer than
  ``write_low_watermark`` of them and a read waits (Ramulator 2's rule);
- FR-FCFS within the queue being served: the command that can issue first; on a tie, a row hit before an
  ACT/PRE, then the oldest request. A row with queued hits is not closed, unless ``row_hit_cap``
  consecutive hits have been served while an older request to another row of that bank waits;
- open page (rows stay open until a request needs another row) or closed page (a row is precharged as soon
  as no queued request hits it);
- refresh per rank every tREFI: ``staggered`` (rank r first due at tREFI x (1 + r / ranks), DRAMsim3's
  RANK_LEVEL_STAGGERED) or ``simultaneous`` (every rank at multiples of tREFI, Ramulator 2's all-bank
  refresh); the due rank is precharged (PREA) and refreshed (REF).

Timing rules are the engine's (``rules``), so the independent checker verifies every schedule.
Requests stream through in chunks (``run``): state is kept in arrays between chunks, so a trace of any
length is replayed in bounded memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Literal

import numpy as np

from l3sim.errors import ConfigError
from l3sim.hw.dram import controller_kernel as ck
from l3sim.hw.dram.commands import NUM_CMDS, Cmd, CommandStream
from l3sim.hw.dram.kernels import kernel_runner
from l3sim.hw.dram.rules import Scope, occupancy_cycles, timing_rules
from l3sim.spec.dram import DRAMTiming
from l3sim.spec.dram import DRAMSpec

REFRESH_MODES = {"off": 0, "staggered": 1, "simultaneous": 2}
HOST_COMMANDS = (Cmd.ACT, Cmd.PRE, Cmd.PREA, Cmd.RD, Cmd.WR, Cmd.REF)  # what this controller issues
PAGE_POLICIES = ("open", "closed")
OUTPUT_ROWS = 1 << 16  # recorded commands per buffer flush


@dataclass(frozen=True)
class ControllerConfig:
    """Controller parameters; defaults follow Ramulator 2's GenericDRAMController unless stated."""

    read_queue: int = 32  # read queue entries (Ramulator 2 ReqBuffer default 32)
    write_queue: int = 32  # write queue entries (Ramulator 2 ReqBuffer default 32)
    write_high_watermark: float = 0.8  # start draining writes above this share of write_queue (Ramulator 2)
    write_low_watermark: float = 0.2  # stop draining below this share, if a read waits (Ramulator 2)
    row_hit_cap: int = 16  # consecutive row hits served over an older request to another row; 0: no cap
    page_policy: Literal["open", "closed"] = "open"  # Ramulator 2 and DRAMsim3 default: open
    refresh: Literal["staggered", "simultaneous", "off"] = "staggered"  # DRAMsim3 default: staggered

    def __post_init__(self) -> None:
        problems = []
        if self.read_queue < 1 or self.write_queue < 1:
            problems.append(f"queue depths must be >= 1, got read {self.read_queue}, write {self.write_queue}")
        if not 0 <= self.write_low_watermark <= self.write_high_watermark <= 1:
            problems.append(f"watermarks must satisfy 0 <= low <= high <= 1, got low {self.write_low_watermark}, "
                            f"high {self.write_high_watermark}")
        if self.row_hit_cap < 0:
            problems.append(f"row_hit_cap must be >= 0 (0: no cap), got {self.row_hit_cap}")
        if self.page_policy not in PAGE_POLICIES:
            problems.append(f"page_policy {self.page_policy!r}: expected one of {', '.join(PAGE_POLICIES)}")
        if self.refresh not in REFRESH_MODES:
            problems.append(f"refresh {self.refresh!r}: expected one of {', '.join(REFRESH_MODES)}")
        if problems:
            raise ConfigError("controller: " + "; ".join(problems))

    @property
    def drain_start(self) -> int:
        """Write-queue length from which writes drain (more than high x depth)."""
        return math.floor(self.write_high_watermark * self.write_queue) + 1

    @property
    def drain_stop(self) -> int:
        """Draining stops when the write queue holds fewer than this (less than low x depth)."""
        return math.ceil(self.write_low_watermark * self.write_queue)


@dataclass(frozen=True)
class Requests:
    """A chunk of requests in trace order: decoded addresses, write flag, arrival cycle, index in the trace."""

    is_write: np.ndarray
    arrival: np.ndarray
    channel: np.ndarray
    rank: np.ndarray
    bank_group: np.ndarray
    bank: np.ndarray
    row: np.ndarray
    col: np.ndarray
    index: np.ndarray

    def __len__(self) -> int:
        return len(self.is_write)


@dataclass
class CommandLog:
    """Every command a run issued (when recorded): addresses, cycle, and the request a column command served."""

    stream: CommandStream
    time: np.ndarray
    request: np.ndarray  # index of the request in the trace; -1 for ACT/PRE/PREA/REF


@dataclass
class ReplayStats:
    """What a run measured, summed over channels (docs/dram.md defines each figure)."""

    reads: int
    writes: int
    cycles: int
    tck_s: float
    burst_bytes: int
    latency_sum: int
    latency_max: int
    latency_hist: np.ndarray  # read latency counts per cycle below ck.HIST_BINS, the rest in the last bin
    read_occupancy_area: int  # sum over cycles of the reads in the system (queued or awaiting data)
    commands: dict[str, int]
    write_drains: int
    busy_cycles: np.ndarray = field(repr=False)

    @property
    def bytes(self) -> int:
        return (self.reads + self.writes) * self.burst_bytes

    @property
    def bandwidth_bytes_per_s(self) -> float:
        return self.bytes / (self.cycles * self.tck_s) if self.cycles else 0.0

    @property
    def mean_read_latency(self) -> float:
        return self.latency_sum / self.reads if self.reads else 0.0

    def read_latency_percentile(self, p: float) -> float:
        """Nearest-rank percentile of read latency (cycles); the maximum if it falls in the overflow bin."""
        if not self.reads:
            return 0.0
        rank = max(1, math.ceil(p / 100 * self.reads))
        k = int(np.searchsorted(np.cumsum(self.latency_hist), rank))
        return float(self.latency_max if k >= ck.HIST_BINS else k)

    @property
    def row_hit_rate(self) -> float:
        """Share of column commands that found their row open: 1 - ACT / (RD + WR)."""
        columns = self.commands["RD"] + self.commands["WR"]
        return max(0.0, 1 - self.commands["ACT"] / columns) if columns else 0.0

    @property
    def mean_reads_in_system(self) -> float:
        return self.read_occupancy_area / self.cycles if self.cycles else 0.0

    def as_dict(self) -> dict:
        return {
            "bandwidth_bytes_per_s": self.bandwidth_bytes_per_s,
            "read_latency_cycles": {"mean": self.mean_read_latency, "p50": self.read_latency_percentile(50),
                                    "p99": self.read_latency_percentile(99)},
            "row_hit_rate": self.row_hit_rate,
            "commands": self.commands,
            "refreshes": self.commands["REF"],
            "cycles": self.cycles,
            "reads": self.reads,
            "writes": self.writes,
            "write_drains": self.write_drains,
            "mean_reads_in_system": self.mean_reads_in_system,
        }


# a rule at one of these scopes binds every pair a rule of the same commands at the scopes listed binds
WIDER_SCOPES = {Scope.BANK: (Scope.BANK_GROUP, Scope.RANK, Scope.CHANNEL),
                Scope.BANK_GROUP: (Scope.RANK, Scope.CHANNEL), Scope.RANK: (Scope.CHANNEL,),
                Scope.OTHER_RANK: (Scope.CHANNEL,), Scope.CHANNEL: ()}


def controller_rules(t: DRAMTiming) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The engine's rules (``rules.timing_rules``) whose later command this controller issues, as arrays
    grouped by earlier command and scope: the rules of command c at scope s are ``start[c * SCOPES + s] :
    start[c * SCOPES + s + 1]`` of ``later`` and ``gap``.

    Rules that change no earliest cycle are left out: of the rules for one (earlier, later) pair, the largest
    gap per scope, and none where a wider scope (a superset of the pairs) has a gap at least as large. The
    kernel takes the maximum of the ready times of all scopes, so the schedule is the same; the per-command
    commit does less work (a DDR4 RD raises 6 ready times instead of 12)."""
    gaps: dict[tuple[int, int, Scope], int] = {}
    for rule in timing_rules(t):
        if rule.later in HOST_COMMANDS:
            key = (int(rule.earlier), int(rule.later), rule.scope)
            gaps[key] = max(gaps.get(key, 0), rule.gap)
    kept = sorted((earlier * ck.SCOPES + int(scope), later, gap) for (earlier, later, scope), gap in gaps.items()
                  if all(gaps.get((earlier, later, wider), 0) < gap for wider in WIDER_SCOPES[scope]))
    group = np.array([k[0] for k in kept], np.int64)
    start = np.searchsorted(group, np.arange(NUM_CMDS * ck.SCOPES + 1)).astype(np.int64)
    return start, np.array([k[1] for k in kept], np.int64), np.array([k[2] for k in kept], np.int64)


class _Channel:
    """The kernel state of one bus channel, between calls."""

    def __init__(self, dram: DRAMSpec, ranks: int, config: ControllerConfig, record: bool) -> None:
        org, t = dram.organisation, dram.timing
        self.banks_per_rank = org.banks_per_chip
        n_banks = ranks * self.banks_per_rank
        slots = config.read_queue + config.write_queue
        self.cfg = np.zeros(ck.C_FIELDS, np.int64)
        values = {
            ck.C_RQ: config.read_queue, ck.C_WQ: config.write_queue, ck.C_HI: config.drain_start,
            ck.C_LO: config.drain_stop, ck.C_CAP: config.row_hit_cap, ck.C_CLOSED: config.page_policy == "closed",
            ck.C_REFRESH: REFRESH_MODES[config.refresh], ck.C_RECORD: record, ck.C_RANKS: ranks,
            ck.C_GROUPS: org.bank_groups, ck.C_BPG: org.banks_per_group, ck.C_TCMD: t.tCMD, ck.C_TFAW: t.tFAW,
            ck.C_TRP: t.tRP, ck.C_TRFC: t.tRFC, ck.C_TREFI: t.tREFI, ck.C_RDLAT: t.CL + t.tBL,
        }
        for key, value in values.items():
            self.cfg[key] = int(value)
        self.sc = np.zeros(ck.S_FIELDS, np.int64)
        self.sc[ck.S_NFREE] = slots
        self.sc[ck.S_LAST_ISSUE] = -t.tCMD  # the command bus is free at cycle 0
        self.sc[ck.S_PEND_REF] = -1
        self.req = np.zeros((slots, ck.R_FIELDS), np.int64)
        self.free = np.arange(slots, dtype=np.int64)
        self.bq = np.zeros((2 * ck.Q_FIELDS, n_banks), np.int64)
        for q in range(2):
            self.bq[q * ck.Q_FIELDS + np.array([ck.Q_HEAD, ck.Q_TAIL, ck.Q_ACTPOS])] = -1
        self.bs = np.zeros((ck.B_FIELDS, n_banks), np.int64)
        self.bs[ck.B_CLOSEPOS] = -1
        self.bs[ck.B_RANK] = np.arange(n_banks) // self.banks_per_rank
        self.bs[ck.B_GROUP] = np.arange(n_banks) // org.banks_per_group
        self.cand = np.zeros(ck.K_FIELDS * 2 * n_banks, np.int64)
        self.group_part = np.zeros(3 * ranks * org.bank_groups, np.int64)
        self.open_row = np.full(n_banks, -1, np.int64)
        self.open_since = np.zeros(n_banks, np.int64)
        self.open_count = np.zeros(ranks, np.int64)
        self.busy = np.zeros(n_banks, np.int64)
        offsets = np.arange(ranks) * t.tREFI // ranks if config.refresh == "staggered" else np.zeros(ranks, np.int64)
        self.next_ref = (t.tREFI + offsets).astype(np.int64)
        # ready tables, flat: channel, rank, bank group, bank (x NUM_CMDS)
        self.ready = [np.zeros(n * ck.NC, np.int64) for n in (1, ranks, ranks * org.bank_groups, n_banks)]
        self.faw = np.full(ranks * 4, ck.NEVER, np.int64)
        self.faw_pos = np.zeros(ranks, np.int64)
        self.ring = np.zeros(t.CL + t.tBL + 1, np.int64)
        self.hist = np.zeros(ck.HIST_BINS + 1, np.int64)
        self.cmd_count = np.zeros(NUM_CMDS, np.int64)
        self.out = np.zeros((OUTPUT_ROWS if record else 1, ck.O_FIELDS), np.int64)
        self.rules = ck.ControllerRules(*controller_rules(t), occupancy_cycles(t))
        # the kernel compares (cycle - now, key) packed in one integer, so no candidate may be MAX_AHEAD or more
        # cycles ahead of the clock. After a bank command every ready time is within one gap of it; a refresh
        # chain (PREA and REF of each rank) can push the command bus and the refreshed ranks a gap plus a
        # command further per command. Bound: (2 ranks + 2) x (largest gap + tCMD), about 1,000 ranks at DDR4
        ahead = max(int(self.rules.gap.max(initial=0)), t.tFAW)
        limit = ck.MAX_AHEAD // (2 * ranks + 2) - t.tCMD
        if ahead >= limit:
            raise ConfigError(f"dram.timing: with {ranks} rank(s) the controller handles timing gaps below {limit} "
                              f"cycles; the largest here is {ahead}")
        self.log: list[np.ndarray] = []
        self.state = ck.ChannelState(self.cfg, self.sc, self.req, self.free, self.bq, self.bs, self.cand,
                                     self.group_part, self.open_row, self.open_since, self.open_count, self.busy,
                                     self.next_ref, *self.ready, self.faw, self.faw_pos, self.ring, self.hist,
                                     self.cmd_count, self.out)

    def feed(self, inp: np.ndarray, final: bool, run_kernel) -> None:
        """Serve ``inp`` (rows of ck.I_* columns); with ``final``, until every request is served."""
        self.cfg[ck.C_FINAL] = int(final)
        self.sc[ck.S_POS] = 0
        while True:
            status = run_kernel("controller", ck.serve, inp, len(inp), self.state, self.rules)
            if self.cfg[ck.C_RECORD] and self.sc[ck.S_NOUT]:
                self.log.append(self.out[: self.sc[ck.S_NOUT]].copy())
                self.sc[ck.S_NOUT] = 0
            if status != ck.OUT_FULL:
                return

    def finish_busy(self) -> np.ndarray:
        end = self.sc[ck.S_END]
        still_open = self.open_row >= 0
        return self.busy + np.where(still_open, end - self.open_since, 0)


def _rows(requests: Requests, dram: DRAMSpec, ranks: int) -> np.ndarray:
    org = dram.organisation
    inp = np.empty((len(requests), ck.I_FIELDS), np.int64)
    inp[:, ck.I_ARR] = requests.arrival
    inp[:, ck.I_WRITE] = requests.is_write
    inp[:, ck.I_BANK] = (requests.rank * org.bank_groups + requests.bank_group) * org.banks_per_group + requests.bank
    inp[:, ck.I_ROW] = requests.row
    inp[:, ck.I_COL] = requests.col
    inp[:, ck.I_IDX] = requests.index
    return inp


def _check(requests: Requests, dram: DRAMSpec, channels: int, ranks: int) -> None:
    org = dram.organisation
    limits = {"channel": channels, "rank": ranks, "bank_group": org.bank_groups, "bank": org.banks_per_group,
              "row": org.rows, "col": org.column_accesses_per_row}
    for name, limit in limits.items():
        values = getattr(requests, name)
        bad = np.flatnonzero((values < 0) | (values >= limit))
        if len(bad):
            raise ConfigError(f"request {int(requests.index[bad[0]])}: {name} = {int(values[bad[0]])}, expected "
                              f"0 <= {name} < {limit}")
    if len(requests) and (np.any(np.diff(requests.arrival) < 0) or requests.arrival[0] < 0):
        raise ConfigError("requests: arrival cycles must be >= 0 and in non-decreasing order")


def run(chunks: Iterable[Requests], dram: DRAMSpec, channels: int, ranks: int, config: ControllerConfig,
        backend: str = "numba", record: bool = False) -> tuple[ReplayStats, CommandLog | None]:
    """Serve every request of ``chunks`` (in trace order) on ``channels`` bus channels of ``ranks`` ranks."""
    run_kernel = kernel_runner(backend)
    state = [_Channel(dram, ranks, config, record) for _ in range(channels)]
    last_arrival = 0
    served = 0
    for chunk in chunks:
        _check(chunk, dram, channels, ranks)
        served += len(chunk)
        if served >= ck.SEQ_LIMIT:
            raise ConfigError(f"requests: at most {ck.SEQ_LIMIT - 1} per run")
        if len(chunk) and chunk.arrival[0] < last_arrival:
            raise ConfigError(f"request {int(chunk.index[0])}: arrival cycles must be in non-decreasing order")
        last_arrival = int(chunk.arrival[-1]) if len(chunk) else last_arrival
        inp = _rows(chunk, dram, ranks)
        for ch, channel in enumerate(state):
            channel.feed(inp[chunk.channel == ch] if channels > 1 else inp, False, run_kernel)
    empty = np.zeros((0, ck.I_FIELDS), np.int64)
    for channel in state:
        channel.feed(empty, True, run_kernel)
    return _stats(state, dram), (_log(state, dram) if record else None)


def _stats(state: list[_Channel], dram: DRAMSpec) -> ReplayStats:
    total = lambda k: int(sum(c.sc[k] for c in state))  # noqa: E731
    counts = sum(c.cmd_count for c in state)
    return ReplayStats(
        reads=total(ck.S_READS), writes=total(ck.S_WRITES), cycles=int(max(c.sc[ck.S_END] for c in state)),
        tck_s=dram.tck_s, burst_bytes=dram.organisation.burst_bytes_per_rank, latency_sum=total(ck.S_LAT_SUM),
        latency_max=int(max(c.sc[ck.S_LAT_MAX] for c in state)), latency_hist=sum(c.hist for c in state),
        read_occupancy_area=total(ck.S_AREA), commands={c.name: int(counts[c]) for c in HOST_COMMANDS},
        write_drains=total(ck.S_DRAINS), busy_cycles=np.concatenate([c.finish_busy() for c in state]),
    )


def _log(state: list[_Channel], dram: DRAMSpec) -> CommandLog:
    org = dram.organisation
    parts = []
    for ch, channel in enumerate(state):
        rows = np.concatenate(channel.log) if channel.log else np.zeros((0, ck.O_FIELDS), np.int64)
        parts.append(np.column_stack([rows, np.full(len(rows), ch)]))
    rows = np.concatenate(parts)
    rows = rows[np.argsort(rows[:, ck.O_TIME], kind="stable")]
    bank = rows[:, ck.O_BANK]
    local = bank % org.banks_per_chip
    stream = CommandStream(cmd=rows[:, ck.O_CMD], channel=rows[:, -1], rank=bank // org.banks_per_chip,
                           bank_group=local // org.banks_per_group, bank=local % org.banks_per_group,
                           row=rows[:, ck.O_ROW], col=rows[:, ck.O_COL])
    return CommandLog(stream=stream, time=rows[:, ck.O_TIME].copy(), request=rows[:, ck.O_IDX].copy())


def requests_of(stream: CommandStream, arrival: np.ndarray | int = 0) -> Iterator[Requests]:
    """One chunk holding the RD/WR requests of ``stream`` (all arriving at ``arrival``)."""
    yield Requests(is_write=(stream.cmd == Cmd.WR).astype(np.int64),
                   arrival=np.broadcast_to(np.asarray(arrival, np.int64), (len(stream),)).copy(),
                   channel=stream.channel.astype(np.int64), rank=stream.rank.astype(np.int64),
                   bank_group=stream.bank_group.astype(np.int64), bank=stream.bank.astype(np.int64),
                   row=stream.row.astype(np.int64), col=stream.col.astype(np.int64),
                   index=np.arange(len(stream), dtype=np.int64))
