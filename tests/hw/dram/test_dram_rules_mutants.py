"""The rule table's labels and arrays, and the engine driver's checks, messages and bookkeeping, by hand.

Written for the mutation group ``dram`` (tools/mutation.py, docs/testing.md): the JEDEC oracle
(test_dram_rule_oracle.py) pins every gap; these pin what it does not look at. Timings from
distinct-timings.toml (every parameter a different number, so a label or an array slot that names the wrong
parameter shows).
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from l3sim.hw.dram.commands import NUM_CMDS, Cmd, CommandStream, StreamBuilder
from l3sim.hw.dram.controller import ControllerConfig
from l3sim.hw.dram.engine import CommandStreamError, Schedule, bytes_by_bus, simulate
from l3sim.hw.dram.rules import Rule, Scope, _check_scopes, occupancy_cycles, rule_table, timing_rules

from test_dram_rule_oracle import distinct_timings

DRAM = distinct_timings()
T = DRAM.timing


def _names() -> dict[str, int]:
    names = {name: getattr(T, name) for name in ("tCMD", "tBL", "tRTRS", "tRTRS_WW", "tWTR_S", "tCCD_S", "tCCD_L",
                                                 "tRRD_S", "tRRD_L", "tWTR_L", "tRTP", "CWL", "tRP", "tRCD", "CL",
                                                 "tWR", "tRAS", "tRC", "tRFC")}
    return {**names, "tCCD_S_WR": T.tCCD_S_WR, "tCCD_L_WR": T.tCCD_L_WR, "turnaround": T.bus_turnaround}


def _evaluate(expression: str, names: dict[str, int]) -> int:
    """A label's formula (names joined by + and -) evaluated on the distinct timings."""
    tokens = re.split(r"\s*([+-])\s*", expression.strip())
    total, sign = 0, 1
    for token in tokens:
        if token in "+-":
            sign = 1 if token == "+" else -1
        else:
            total += sign * names[token]  # KeyError: the label names no timing parameter
    return total


def test_every_rule_is_labelled_with_the_formula_of_its_gap():
    """The checker reports a violated rule by its label: the label's formula (before any remark in brackets)
    must give the rule's gap, and the remark must say which bus or command the rule is about."""
    names = _names()
    rules = timing_rules(T)
    assert len(rules) == 94  # the add() calls expand to 94 command pairs; on these timings every gap is positive
    for rule in rules:
        if rule.why == "rank bus, write to read":
            assert rule.gap == max(T.tBL, T.CWL + T.tBL + T.bus_turnaround - T.CL)
            continue
        formula, _, remark = rule.why.partition(" (")
        assert _evaluate(formula, names) == rule.gap, rule
        assert remark == "" or remark.endswith(")"), rule
    labels = {rule.why for rule in rules}
    assert {"tBL (rank bus)", "tBL (channel bus)", "tBL + tRTRS (rank switch)", "tRC (ACT to REF)",
            "tRAS (PREA closes every bank)", "tRTP (PREA)", "CWL + tBL + tWR (PREA)", "tRP (after PREA)",
            "tRP (precharge to REF)", "tRCD (PIM_MAC needs every row open)",
            "tCCD_L (one column per bank per tCCD_L)", "tCCD_L (PIM_MAC uses every bank group)",
            "CWL + tBL + tWTR_L (write to an all-bank read)", "tRTP (after PIM_MAC)",
            "CL + tBL + turnaround - CWL (rank bus)", "CL + tBL + turnaround - CWL (channel bus)",
            "CL + tBL + tRTRS - CWL (rank switch)", "CWL + tBL + tRTRS - CL (rank switch)",
            "tBL + tRTRS_WW (rank switch)", "tRFC", "tRRD_L", "tRRD_S", "tCCD_L_WR", "tCCD_S_WR",
            "CWL + tBL + tWTR_S", "CWL + tBL + tWTR_L", "CWL + tBL + tWR"} <= labels


def test_occupancy_of_each_command_by_hand():
    occupancy = occupancy_cycles(T)
    assert occupancy.dtype == np.int64 and occupancy.shape == (NUM_CMDS,)
    expected = {Cmd.ACT: 21, Cmd.PRE: 19, Cmd.PREA: 19, Cmd.RD: 23 + 4, Cmd.PIM_RD_RB: 23 + 4, Cmd.WR: 17 + 4,
                Cmd.PIM_WR_SB: 17 + 4, Cmd.PIM_WR_R: 17 + 4, Cmd.REF: 300, Cmd.PIM_LD_SB: 11, Cmd.PIM_MAC: 11}
    assert {Cmd(i): int(v) for i, v in enumerate(occupancy)} == {c: expected.get(c, 0) for c in Cmd}


@pytest.mark.parametrize("later", [None, (Cmd.ACT, Cmd.RD, Cmd.WR)])
def test_rule_table_holds_each_rule_under_its_earlier_command(later):
    rules = [r for r in timing_rules(T) if later is None or r.later in later]
    table = rule_table(T, later)
    assert table.start.shape == (NUM_CMDS + 1,) and table.start[0] == 0 and table.start[-1] == len(rules)
    assert all(a.dtype == np.int64 for a in (table.start, table.later, table.scope, table.gap))
    got = sorted((c, int(table.later[i]), int(table.scope[i]), int(table.gap[i]))
                 for c in range(NUM_CMDS) for i in range(table.start[c], table.start[c + 1]))
    assert got == sorted((int(r.earlier), int(r.later), int(r.scope), r.gap) for r in rules)


# ---- engine: stream checks and protocol errors, with the whole message ---------------------------------------------

def _error(stream, ranks=1, **kwargs) -> str:
    with pytest.raises(CommandStreamError) as error:
        simulate(stream, DRAM, ranks, backend="python", refresh=False, **kwargs)
    return str(error.value)


@pytest.mark.parametrize("field, value, expected", [
    ("rank", 2, "0 <= rank < 2"), ("bank_group", 4, "0 <= bank_group < 4"), ("bank", 4, "0 <= bank < 4"),
    ("row", 65536, "0 <= row < 65536"), ("col", 128, "0 <= col < 128"), ("channel", -1, "channel >= 0"),
    ("rank", -1, "0 <= rank < 2"),
])
def test_a_field_out_of_range_is_named_with_its_command(field, value, expected):
    fields = {"rank": 1, "bank_group": 3, "bank": 2, "row": 5, "col": 6, "channel": 0, **{field: value}}
    good = dict(rank=0, bank_group=0, bank=0, row=0, col=0)
    stream = StreamBuilder().add(Cmd.ACT, **good).add(Cmd.RD, count=2, **fields).build()
    described = (f"RD ch{fields['channel']} rank{fields['rank']} bg{fields['bank_group']} bank{fields['bank']} "
                 f"row{fields['row']} col{fields['col']}")
    assert _error(stream, 2) == (f"command stream: command 1 ({described}): field {field} = {value}, expected "
                                 f"{expected} (2 such commands)")


def test_an_unknown_command_code_is_named_by_its_code():
    stream = StreamBuilder().add(np.array([NUM_CMDS])).build()
    assert _error(stream) == (f"command stream: command 0 (code {NUM_CMDS} ch0 rank0 bg0 bank0 row0 col0): field cmd "
                              f"= {NUM_CMDS}, expected 0 <= cmd < {NUM_CMDS} (1 such commands)")


@pytest.mark.parametrize("build, index, message", [
    (lambda b: b.add(Cmd.ACT, row=1).add(Cmd.ACT, row=2), 1, "ACT to a bank whose row is already open (PRE it first)"),
    (lambda b: b.add(Cmd.ACT, row=1).add(Cmd.RD, row=2, col=3), 1,
     "column command to a bank that does not have this row open"),
    (lambda b: b.add(Cmd.ACT, row=1).add(Cmd.PIM_MAC), 1, "PIM_MAC needs a row open in every bank of the rank"),
    (lambda b: b.add(Cmd.ACT, row=1).add(Cmd.REF), 1, "REF needs every bank of the rank precharged"),
])
def test_protocol_errors_name_the_command(build, index, message):
    stream = build(StreamBuilder()).build()
    c = stream.cmd[index]
    described = (f"{Cmd(int(c)).name} ch0 rank0 bg0 bank0 row{int(stream.row[index])} col{int(stream.col[index])}")
    assert _error(stream) == f"command stream: command {index} ({described}): {message}"


def test_simulate_refuses_bad_arguments():
    stream = StreamBuilder().add(Cmd.ACT).build()
    cases = [
        (dict(backend="cuda"), "backend 'cuda': expected 'numba' or 'python'"),
        (dict(ranks_per_channel=0), "ranks_per_channel = 0: expected >= 1"),
        (dict(refresh_phase=-1), "refresh_phase = -1: expected 0 <= phase < tREFI (9000)"),
        (dict(refresh_phase=9000), "refresh_phase = 9000: expected 0 <= phase < tREFI (9000)"),
        (dict(policy="fcfs"), "policy 'fcfs': expected 'fifo' or 'frfcfs'"),
    ]
    for kwargs, message in cases:
        args = {"ranks_per_channel": 1, "backend": "python", **kwargs}
        with pytest.raises(Exception) as error:
            simulate(stream, DRAM, **args)
        assert str(error.value) == message
    assert simulate(stream, DRAM, 1, backend="python", refresh_phase=8999).issue_cycle.tolist() == [0]
    requests = StreamBuilder().add(Cmd.RD).add(Cmd.ACT).add(Cmd.PRE).build()
    assert _error(requests, policy="frfcfs") == ("command stream: command 1: policy 'frfcfs' takes RD/WR requests "
                                                 "only, got ACT (2 such commands)")


# ---- engine: bytes, schedule properties, refresh bookkeeping -------------------------------------------------------

def test_bytes_by_bus_by_hand():
    org = DRAM.organisation
    burst = 8 * 8 * 8 // 8  # BL8 x 8 chips x 8 bits = 64 bytes per rank burst
    assert org.burst_bytes_per_rank == burst and org.banks_per_chip == 16
    cmds = np.array([Cmd.RD, Cmd.WR, Cmd.WR, Cmd.PIM_RD_RB, Cmd.PIM_WR_SB, Cmd.PIM_WR_R, Cmd.PIM_LD_SB, Cmd.PIM_MAC,
                     Cmd.ACT, Cmd.PRE, Cmd.REF])
    assert bytes_by_bus(cmds, DRAM) == {"channel": 3 * burst, "rank": 6 * burst, "bank": 4 * burst + 16 * burst}


def test_schedule_seconds_and_bandwidth():
    s = Schedule(np.zeros(1, np.int64), 1000, np.zeros((1, 1, 1, 1)), {"channel": 64, "rank": 0}, 0.625e-9)
    assert s.total_s == pytest.approx(625e-9, rel=1e-15)
    assert s.achieved_bw_bytes_per_s == pytest.approx({"channel": 64 / 625e-9, "rank": 0.0}, rel=1e-15)
    idle = Schedule(np.zeros(0, np.int64), 0, np.zeros((1, 1, 1, 1)), {"channel": 64}, 0.625e-9)
    assert idle.achieved_bw_bytes_per_s == {"channel": 0.0}


def test_refresh_commands_carry_their_channel_rank_and_bank():
    """Reads to bank (3, 2) of rank 1 on two channels for longer than tREFI = 9000: each rank is refreshed, and
    the controller's inserted ACT reopens bank group 3, bank 2 of rank 1 on the channel it refreshed."""
    b = StreamBuilder()
    for channel in (0, 1):
        b.add(Cmd.ACT, channel=channel, rank=1, bank_group=3, bank=2, row=9)
        b.add(Cmd.RD, channel=channel, rank=1, bank_group=3, bank=2, row=9, col=np.arange(1000) % 128)
    stream = b.build()
    s = simulate(stream, DRAM, 2, backend="numba")
    assert s.total_cycles > 9000
    ins = s.inserted
    refs = ins.cmd == Cmd.REF
    assert s.refreshes == int(refs.sum()) >= 4  # both ranks of both channels at least once
    assert set(zip(ins.channel[refs].tolist(), ins.rank[refs].tolist())) == {(0, 0), (0, 1), (1, 0), (1, 1)}
    acts = ins.cmd == Cmd.ACT
    assert acts.any()
    assert set(zip(ins.channel[acts].tolist(), ins.rank[acts].tolist(), ins.bank_group[acts].tolist(),
                   ins.bank[acts].tolist(), ins.row[acts].tolist())) == {(0, 1, 3, 2, 9), (1, 1, 3, 2, 9)}
    assert np.all(ins.col == 0) and len(s.inserted_cycle) == len(ins)
    assert np.all(s.inserted_cycle[refs] >= 9000)
    assert s.busy_cycles.shape == (2, 2, 4, 4)
    assert s.busy_cycles[0, 1, 3, 2] > 0 and s.busy_cycles[0, 0, 3, 2] > 0  # the refreshed rank 0 is busy too
    no_refresh = simulate(stream, DRAM, 2, backend="numba", refresh=False)
    assert no_refresh.refreshes == 0 and len(no_refresh.inserted) == 0
    assert no_refresh.total_cycles < s.total_cycles


# ---- rules: zero gaps, the scope check, an empty table ---------------------------------------------------------------

def test_a_gap_of_zero_is_no_rule():
    """DDR4-3200 (CL 22, CWL 16, tBL 4, tRTRS 2): a write then a read on another rank needs CWL + tBL + tRTRS - CL
    = 0 cycles beyond the command bus, so the table has no such rule; every rule it has binds (gap > 0)."""
    from dram_streams import dram_preset

    t = dram_preset("ddr4-3200").timing
    assert (t.CL, t.CWL, t.tBL, t.tRTRS) == (22, 16, 4, 2)
    rules = timing_rules(t)
    assert all(rule.gap > 0 for rule in rules)
    assert not [r for r in rules if (r.earlier, r.later, r.scope) == (Cmd.WR, Cmd.RD, Scope.OTHER_RANK)]
    assert len(rules) == 93  # the 94 of the distinct timings less this one


def test_a_rank_wide_command_at_bank_scope_is_refused():
    for earlier, later in ((Cmd.ACT, Cmd.REF), (Cmd.PIM_MAC, Cmd.RD), (Cmd.PREA, Cmd.REF)):
        rule = Rule(earlier, later, Scope.BANK_GROUP, 5, "x")
        with pytest.raises(AssertionError) as error:
            _check_scopes([rule])
        assert str(error.value) == f"rule {rule} joins a rank-wide command at bank scope"
    _check_scopes([Rule(Cmd.ACT, Cmd.RD, Scope.BANK, 5, "x"), Rule(Cmd.ACT, Cmd.REF, Scope.RANK, 5, "x")])


def test_a_table_without_rules_is_empty_int64_arrays():
    table = rule_table(T, ())
    assert table.start.tolist() == [0] * (NUM_CMDS + 1)
    for array in (table.start, table.later, table.scope, table.gap):
        assert array.dtype == np.int64
    assert len(table.later) == len(table.scope) == len(table.gap) == 0


# ---- engine: empty streams, channels, the backend, the inserted-command buffer --------------------------------------

@pytest.mark.parametrize("policy", ["fifo", "frfcfs"])
def test_an_empty_stream_takes_no_time_on_one_channel(policy):
    s = simulate(CommandStream.empty(), DRAM, 2, policy=policy, backend="python")
    assert s.issue_cycle.tolist() == [] and s.total_cycles == 0 and s.refreshes == 0 and len(s.inserted) == 0
    assert s.busy_cycles.shape == (1, 2, 4, 4) and not s.busy_cycles.any()
    assert s.bytes_transferred == {"channel": 0, "rank": 0, "bank": 0} and s.total_s == 0.0
    assert s.issue_cycle.dtype == s.busy_cycles.dtype == s.inserted_cycle.dtype == np.int64  # cycles are integers


def test_frfcfs_one_read_by_hand():
    """A read to a closed bank: the controller's ACT at cycle 0, the read tRCD = 21 later, its data done
    CL + tBL = 27 after that (48 cycles of 0.625 ns)."""
    s = simulate(CommandStream.of(Cmd.RD, row=5, col=3), DRAM, 1, policy="frfcfs", refresh=False, backend="python")
    assert s.issue_cycle.dtype == np.int64 and s.issue_cycle.tolist() == [21]
    assert s.inserted.cmd.tolist() == [Cmd.ACT] and s.inserted.row.tolist() == [5]
    assert s.inserted_cycle.tolist() == [0]
    assert s.total_cycles == 48 and s.tck_s == 0.625e-9 and s.total_s == pytest.approx(30e-9, rel=1e-12)
    assert s.busy_cycles.shape == (1, 1, 4, 4)


def test_frfcfs_channels_are_independent():
    """The same read on channels 0 and 1: each channel opens its row at 0 and reads at tRCD = 21."""
    stream = CommandStream.of(Cmd.RD, channel=np.array([0, 1]), row=5, col=3)
    s = simulate(stream, DRAM, 1, policy="frfcfs", refresh=False, backend="python")
    assert s.issue_cycle.tolist() == [21, 21] and s.total_cycles == 48
    assert sorted(zip(s.inserted.channel.tolist(), s.inserted.cmd.tolist(), s.inserted_cycle.tolist())) == [
        (0, Cmd.ACT, 0), (1, Cmd.ACT, 0)]
    assert s.busy_cycles.shape == (2, 1, 4, 4)


def test_frfcfs_refresh_follows_the_flag_and_the_controller_config():
    """1000 row-hit reads, tCCD_L = 11 apart: 21 + 999 x 11 + 27 = 11037 cycles, past tREFI = 9000, so the
    controller refreshes once; refresh=False or a config with refresh "off" inserts no REF and the run ends at
    11037 exactly."""
    stream = CommandStream.of(Cmd.RD, row=5, col=np.arange(1000) % 128)
    on = simulate(stream, DRAM, 1, policy="frfcfs", backend="python")
    assert on.refreshes == 1 and on.total_cycles > 11037
    for kwargs in (dict(refresh=False), dict(controller=ControllerConfig(refresh="off")),
                   dict(refresh=False, controller=ControllerConfig(refresh="staggered"))):
        off = simulate(stream, DRAM, 1, policy="frfcfs", backend="python", **kwargs)
        assert off.refreshes == 0 and off.total_cycles == 11037, kwargs


@pytest.mark.parametrize("policy", ["fifo", "frfcfs"])
@pytest.mark.parametrize("backend", ["python", "numba"])
def test_the_backend_reaches_the_kernels(monkeypatch, policy, backend):
    """``backend`` is the one the kernels run with (the python backend is the interpreted code the tests step
    through; both give the same schedules, so only the runner's argument shows which ran)."""
    from l3sim.hw.dram import controller, engine

    seen = []
    for module in (engine, controller):
        real = module.kernel_runner
        monkeypatch.setattr(module, "kernel_runner", lambda b, real=real: seen.append(b) or real(b))
    simulate(CommandStream.of(Cmd.RD, row=5, col=3) if policy == "frfcfs"
             else StreamBuilder().add(Cmd.ACT).add(Cmd.RD).build(), DRAM, 1, policy=policy, backend=backend)
    assert seen and set(seen) == {backend}


def test_the_inserted_command_buffer_grows(monkeypatch):
    """Eight ranks with all 16 banks open, then 1200 reads: every refresh of a rank inserts PREA, REF and 16 ACTs
    (18 commands), two rounds of eight ranks 288, more than the first buffer of 256 (the stream has 1328 < 8 x 256
    commands). The buffer grows and the run is repeated once; the refresh commands pass the checker."""
    from l3sim.hw.dram import engine
    from l3sim.hw.dram.checker import check

    calls = []
    real = engine.kernel_runner

    def counting(backend):
        run = real(backend)

        def counted(*args):
            calls.append(args[0])
            assert len(calls) <= 4, "the buffer does not grow"
            return run(*args)
        return counted

    monkeypatch.setattr(engine, "kernel_runner", counting)
    b = StreamBuilder()
    for rank in range(8):
        for group in range(4):
            for bank in range(4):
                b.add(Cmd.ACT, rank=rank, bank_group=group, bank=bank, row=7)
    b.add(Cmd.RD, row=7, col=np.arange(1200) % 128)
    stream = b.build()
    s = simulate(stream, DRAM, 8, backend="python")
    assert len(calls) == 2
    assert s.refreshes == 16 and len(s.inserted) == 18 * 16 == len(s.inserted_cycle)
    assert np.bincount(s.inserted.cmd, minlength=NUM_CMDS)[[Cmd.ACT, Cmd.PREA, Cmd.REF]].tolist() == [256, 16, 16]
    assert np.bincount(s.inserted.rank[s.inserted.cmd == Cmd.REF]).tolist() == [2] * 8
    assert check(stream, s, DRAM, 8) == []
    assert s.issue_cycle.dtype == s.busy_cycles.dtype == s.inserted_cycle.dtype == np.int64  # cycles are integers
