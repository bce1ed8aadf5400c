"""``simulate``: time a command stream on a DRAM spec, command by command, and summarise the schedule.

Policies:

- ``"fifo"``: in-order issue per channel, each command as early as every rule
  allows (the L3 paper's PIM controller on the buffer chip issues its program
  in order). Channels are independent.
- ``"frfcfs"``: the stream is a list of host requests (RD/WR with their
  addresses), all waiting from cycle 0; the host-traffic controller
  (``controller``: read/write queues, write draining, FR-FCFS) turns them into
  ACT/PRE/RD/WR.

Backends: ``"numba"`` (compiled once, cached on disk) and ``"python"`` (the
same code interpreted, for tests); they give identical results.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from l3sim.errors import ConfigError
from l3sim.hw.dram import controller as ctl
from l3sim.hw.dram import fifo_kernel
from l3sim.hw.dram.commands import IS_BANK_COMMAND, NUM_CMDS, Cmd, CommandStream
from l3sim.hw.dram.kernels import kernel_runner
from l3sim.hw.dram.rules import occupancy_cycles, rule_table
from l3sim.spec.dram import DRAMSpec


class CommandStreamError(ConfigError):
    """A command stream breaks the protocol (a column command to a closed row, an address out of range ...)."""


@dataclass(frozen=True)
class Schedule:
    """The engine's output for one stream.

    ``issue_cycle[i]``: cycle command i issued. ``inserted``: commands the
    controller added (refresh's PREA/REF/ACT; FR-FCFS's ACT/PRE), with their
    cycles in ``inserted_cycle``; a checker needs both. ``busy_cycles`` is
    shaped (channels, ranks, bank groups, banks): cycles each bank was open or
    precharging or refreshing. ``bytes_transferred`` / ``achieved_bw_bytes_per_s``
    are keyed by bus: "channel" (host RD/WR over the channel), "rank" (every burst
    over the chips' DQ pins: host and PIM transfers) and "bank" (bytes read or
    written in the cell arrays, PIM_MAC's all-bank reads included).
    """

    issue_cycle: np.ndarray
    total_cycles: int
    busy_cycles: np.ndarray
    bytes_transferred: dict[str, int]
    tck_s: float
    inserted: CommandStream = field(default_factory=CommandStream.empty)
    inserted_cycle: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    refreshes: int = 0

    @property
    def total_s(self) -> float:
        return self.total_cycles * self.tck_s

    @property
    def achieved_bw_bytes_per_s(self) -> dict[str, float]:
        seconds = self.total_s
        return {bus: (count / seconds if seconds > 0 else 0.0) for bus, count in self.bytes_transferred.items()}


def _check_stream(stream: CommandStream, dram: DRAMSpec, ranks_per_channel: int) -> None:
    org = dram.organisation
    limits = {
        "cmd": NUM_CMDS, "rank": ranks_per_channel, "bank_group": org.bank_groups, "bank": org.banks_per_group,
        "row": org.rows, "col": org.column_accesses_per_row,
    }
    for name in ("cmd", "channel", "rank", "bank_group", "bank", "row", "col"):
        values = getattr(stream, name)
        bad = np.flatnonzero((values < 0) | (values >= limits[name])) if name in limits else np.flatnonzero(values < 0)
        if len(bad):
            i = int(bad[0])
            expected = f"0 <= {name} < {limits[name]}" if name in limits else f"{name} >= 0"
            raise CommandStreamError(
                f"command stream: command {i} ({_describe(stream, i)}): field {name} = {int(values[i])}, expected "
                f"{expected} ({len(bad)} such commands)"
            )


def _describe(stream: CommandStream, i: int) -> str:
    code = int(stream.cmd[i])
    name = Cmd(code).name if 0 <= code < NUM_CMDS else f"code {code}"
    return (f"{name} ch{int(stream.channel[i])} rank{int(stream.rank[i])} bg{int(stream.bank_group[i])} "
            f"bank{int(stream.bank[i])} row{int(stream.row[i])} col{int(stream.col[i])}")


_ERRORS = {
    fifo_kernel.ERR_ACT_OPEN: "ACT to a bank whose row is already open (PRE it first)",
    fifo_kernel.ERR_ROW_CLOSED: "column command to a bank that does not have this row open",
    fifo_kernel.ERR_MAC_CLOSED: "PIM_MAC needs a row open in every bank of the rank",
    fifo_kernel.ERR_REF_OPEN: "REF needs every bank of the rank precharged",
}


def _flat_ids(stream: CommandStream, dram: DRAMSpec, ranks_per_channel: int):
    org = dram.organisation
    rank = stream.channel.astype(np.int64) * ranks_per_channel + stream.rank
    group = rank * org.bank_groups + stream.bank_group
    bank = group * org.banks_per_group + stream.bank
    return rank, group, bank


def bytes_by_bus(cmd: np.ndarray, dram: DRAMSpec) -> dict[str, int]:
    """Bytes each bus carries for the commands ``cmd`` (codes), by the rules in this module's docstring."""
    org = dram.organisation
    counts = np.bincount(cmd.astype(np.int64), minlength=NUM_CMDS)
    burst_rank = org.burst_bytes_per_rank
    host = int(counts[Cmd.RD] + counts[Cmd.WR])
    rank_bus = host + int(counts[Cmd.PIM_RD_RB] + counts[Cmd.PIM_WR_SB] + counts[Cmd.PIM_WR_R])
    array_single = host + int(counts[Cmd.PIM_LD_SB])
    return {
        "channel": host * burst_rank,
        "rank": rank_bus * burst_rank,
        "bank": array_single * burst_rank + int(counts[Cmd.PIM_MAC]) * burst_rank * org.banks_per_chip,
    }


def _run_fifo(stream, dram, ranks_per_channel, refresh, backend, refresh_phase):
    org, timing = dram.organisation, dram.timing
    rank, group, bank = _flat_ids(stream, dram, ranks_per_channel)
    n_channels = int(stream.channel.max()) + 1 if len(stream) else 1
    table = rule_table(timing)
    run = kernel_runner(backend)
    banks_total = n_channels * ranks_per_channel * org.banks_per_chip
    commands = fifo_kernel.FifoStream(stream.cmd.astype(np.int64), stream.channel.astype(np.int64), rank, group,
                                      bank, stream.row)
    rules = fifo_kernel.FifoRules(IS_BANK_COMMAND, table.start, table.later, table.scope, table.gap,
                                  occupancy_cycles(timing))
    layout = fifo_kernel.FifoOrg(n_channels, ranks_per_channel, org.bank_groups, org.banks_per_group)
    times = fifo_kernel.FifoTiming(timing.tCMD, timing.tFAW, timing.tRP, timing.tRFC, timing.tREFI,
                                   timing.tREFI - refresh_phase, bool(refresh))
    capacity = max(256, len(stream) // 8)
    while True:
        issue = np.zeros(len(stream), np.int64)
        busy = np.zeros(banks_total, np.int64)
        ins = [np.zeros(capacity, np.int64) for _ in range(5)]
        status, index, n_ins, end = run("fifo", fifo_kernel.fifo_issue, commands, rules, layout, times,
                                        fifo_kernel.FifoOutput(issue, busy, *ins))
        if status != fifo_kernel.ERR_CAPACITY:
            break
        capacity *= 4
    if status != fifo_kernel.OK:
        raise CommandStreamError(f"command stream: command {index} ({_describe(stream, index)}): {_ERRORS[status]}")
    ins_cmd, ins_rank, ins_bank, ins_row, ins_time = (a[:n_ins] for a in ins)
    inserted = CommandStream(
        cmd=ins_cmd, channel=ins_rank // ranks_per_channel, rank=ins_rank % ranks_per_channel,
        bank_group=ins_bank // org.banks_per_group, bank=ins_bank % org.banks_per_group, row=ins_row, col=0,
    )
    return issue, int(end), busy, inserted, ins_time


def _run_controller(stream, dram, ranks_per_channel, refresh, backend, config):
    """The stream's RD/WR requests, all waiting from cycle 0, through the host-traffic controller."""
    bad = np.flatnonzero((stream.cmd != Cmd.RD) & (stream.cmd != Cmd.WR))
    if len(bad):
        raise CommandStreamError(f"command stream: command {int(bad[0])}: policy 'frfcfs' takes RD/WR requests only, "
                                 f"got {Cmd(int(stream.cmd[bad[0]])).name} ({len(bad)} such commands)")
    config = config or ctl.ControllerConfig()
    if not refresh:
        config = replace(config, refresh="off")
    channels = int(stream.channel.max()) + 1 if len(stream) else 1
    stats, log = ctl.run(ctl.requests_of(stream), dram, channels, ranks_per_channel, config, backend, record=True)
    column = log.request >= 0
    issue = np.zeros(len(stream), np.int64)
    issue[log.request[column]] = log.time[column]
    return issue, stats.cycles, stats.busy_cycles, log.stream.take(~column), log.time[~column]


def simulate(stream: CommandStream, dram: DRAMSpec, ranks_per_channel: int, policy: str = "fifo",
             refresh: bool = True, backend: str = "numba", controller=None, refresh_phase: int = 0) -> Schedule:
    """Time ``stream`` on channels of ``ranks_per_channel`` ranks of ``dram`` (see the module docstring).

    ``refresh_phase`` (FIFO policy, 0 <= phase < tREFI): how far into the refresh schedule the stream starts;
    the first REF is due at tREFI - phase (0: at tREFI, as before). Averaging over phases gives the
    expected refresh cost of a stream that starts anywhere in the schedule.

    ``controller`` (a ``controller.ControllerConfig``) sets the FR-FCFS controller's queues and policies;
    ``refresh=False`` turns its refresh off whatever the config says.
    """
    if backend not in ("numba", "python"):
        raise ConfigError(f"backend {backend!r}: expected 'numba' or 'python'")
    if ranks_per_channel < 1:
        raise ConfigError(f"ranks_per_channel = {ranks_per_channel}: expected >= 1")
    _check_stream(stream, dram, ranks_per_channel)
    if not 0 <= refresh_phase < dram.timing.tREFI:
        raise ConfigError(f"refresh_phase = {refresh_phase}: expected 0 <= phase < tREFI ({dram.timing.tREFI})")
    if policy == "fifo":
        issue, end, busy, inserted, ins_time = _run_fifo(stream, dram, ranks_per_channel, refresh, backend,
                                                         refresh_phase)
    elif policy == "frfcfs":
        issue, end, busy, inserted, ins_time = _run_controller(stream, dram, ranks_per_channel, refresh, backend,
                                                               controller)
    else:
        raise ConfigError(f"policy {policy!r}: expected 'fifo' or 'frfcfs'")
    org = dram.organisation
    all_cmds = np.concatenate([stream.cmd, inserted.cmd])
    return Schedule(
        issue_cycle=issue,
        total_cycles=end,
        busy_cycles=busy.reshape(-1, ranks_per_channel, org.bank_groups, org.banks_per_group),
        bytes_transferred=bytes_by_bus(all_cmds, dram),
        tck_s=dram.tck_s,
        inserted=inserted,
        inserted_cycle=ins_time,
        refreshes=int(np.count_nonzero(all_cmds == Cmd.REF)),
    )
