"""Address mapping, trace readers, patterns and the ``l3sim dram`` commands."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from l3sim.cli import app
from l3sim.errors import ConfigError, TraceFormatError
from l3sim.hw.dram.mapping import AddressMapping
from l3sim.hw.dram.traces import pattern_addresses, read_trace

from dram_streams import dram_preset


@pytest.fixture(scope="module")
def ddr4_mapping():
    return AddressMapping.build("RoBaRaCoCh", dram_preset("ddr4-3200"), 2, 2)


def test_ramulator_default_order_is_channel_then_column_then_rank_bank_group_bank_row(ddr4_mapping):
    """RoBaRaCoCh on DDR4 x64 (64 B bursts), 2 channels, 2 ranks: bit 6 channel, bits 7-13 the 128 burst
    columns, bit 14 rank, bits 15-16 bank group, 17-18 bank, then the row (Ramulator 2's linear mapper)."""
    fields = ddr4_mapping.decode(np.array([0x40, 0x80, 1 << 14, 1 << 15, 1 << 17, 1 << 19]))
    assert fields["channel"].tolist() == [1, 0, 0, 0, 0, 0]
    assert fields["col"].tolist() == [0, 1, 0, 0, 0, 0]
    assert fields["rank"].tolist() == [0, 0, 1, 0, 0, 0]
    assert fields["bank_group"].tolist() == [0, 0, 0, 1, 0, 0]
    assert fields["bank"].tolist() == [0, 0, 0, 0, 1, 0]
    assert fields["row"].tolist() == [0, 0, 0, 0, 0, 1]


def test_dramsim3_strings_put_the_last_field_lowest():
    dram = dram_preset("ddr4-3200")
    m = AddressMapping.build("rochrababgco", dram, 2, 2)
    assert m.shift == {"col": 0, "bank_group": 7, "bank": 9, "rank": 11, "channel": 12, "row": 13}
    rng = np.random.default_rng(0)
    address = rng.integers(0, m.capacity_bytes // 64, size=1000) * 64
    assert np.array_equal(m.encode(**m.decode(address)), address)


@pytest.mark.parametrize("scheme", ["robabgracohh", "rorababgco", "XYZ"])
def test_bad_schemes_are_rejected(scheme):
    with pytest.raises(ConfigError, match="address mapping"):
        AddressMapping.build(scheme, dram_preset("ddr4-3200"), 1, 1)


def test_both_trace_formats_read_in_chunks(tmp_path, ddr4_mapping):
    dramsim = tmp_path / "a.trc"
    dramsim.write_text("# comment\n0x40 READ 0\n\n0x80 WRITE 7\n0x4000 READ 7\n")
    chunks = list(read_trace(dramsim, ddr4_mapping, chunk=2))
    assert [len(c) for c in chunks] == [2, 1]
    assert np.concatenate([c.arrival for c in chunks]).tolist() == [0, 7, 7]
    assert np.concatenate([c.is_write for c in chunks]).tolist() == [0, 1, 0]
    assert np.concatenate([c.index for c in chunks]).tolist() == [0, 1, 2]
    ramulator = tmp_path / "b.trc"
    ramulator.write_text("LD 0x40\nST 128\n")
    (chunk,) = read_trace(ramulator, ddr4_mapping)
    assert chunk.is_write.tolist() == [0, 1] and chunk.arrival.tolist() == [0, 0]
    assert chunk.channel.tolist() == [1, 0] and chunk.col.tolist() == [0, 1]


@pytest.mark.parametrize("text,match", [
    ("0x40 READ 0\nLD 0x80\n", r"line 2: expected '0xADDR READ\|WRITE CYCLE'"),
    ("0x40 READ 5\n0x80 READ 4\n", "line 2: field cycle: 4 is before"),
    ("0xZZ READ 0\n", "line 1: field address: '0xZZ' is not a number"),
    ("READ 0x40\n", "line 1: expected"),
])
def test_malformed_traces_name_file_line_and_field(tmp_path, ddr4_mapping, text, match):
    path = tmp_path / "bad.trc"
    path.write_text(text)
    with pytest.raises(TraceFormatError, match=match) as err:
        list(read_trace(path, ddr4_mapping))
    assert str(path) in str(err.value)


def test_patterns_follow_their_documented_definition():
    dram = dram_preset("ddr4-3200")
    m = AddressMapping.build("RoBaRaCoCh", dram, 1, 1)
    (seq, seq_w), = pattern_addresses("seq-read", 5, m)
    assert seq.tolist() == [0, 64, 128, 192, 256] and not seq_w.any()
    (mix, mix_w), = pattern_addresses("mix", 3000, m, seed=4)
    units = m.capacity_bytes // 64
    assert np.array_equal(mix, np.random.default_rng([4, 0]).integers(0, units, size=3000) * 64)
    assert np.array_equal(mix_w, np.random.default_rng([4, 1]).random(3000) < 1 / 3)
    (conflict, _), = pattern_addresses("row-conflict", 4, m)
    fields = m.decode(conflict)
    assert fields["row"].tolist() == [0, 1, 2, 3]
    assert not any(fields[k].any() for k in ("channel", "rank", "bank_group", "bank", "col"))


def test_cli_pattern_then_replay(tmp_path):
    runner = CliRunner()
    made = runner.invoke(app, ["dram", "pattern", "row-conflict", "--count", "50", "--trace-format", "ramulator"])
    assert made.exit_code == 0, made.output
    trace = tmp_path / "conflict.trc"
    trace.write_text(made.output)
    result = runner.invoke(app, ["dram", "replay", str(trace), "--refresh", "off", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    t = dram_preset("ddr4-3200").timing
    assert out["cycles"] == 49 * t.tRC + t.tRCD + t.CL + t.tBL
    assert out["commands"]["ACT"] == 50 and out["row_hit_rate"] == 0
    assert set(out["read_latency_cycles"]) == {"mean", "p50", "p99"}
    assert out["bandwidth_bytes_per_s"] == pytest.approx(50 * 64 / (out["cycles"] * t.tCK_ns * 1e-9))


def test_cli_reports_bad_input(tmp_path):
    trace = tmp_path / "t.trc"
    trace.write_text("0x40 READ 0\n")
    runner = CliRunner()
    bad_queue = runner.invoke(app, ["dram", "replay", str(trace), "--queue", "32"])
    assert bad_queue.exit_code != 0 and "--queue" in str(bad_queue.exception or bad_queue.output)
    missing = runner.invoke(app, ["dram", "replay", str(tmp_path / "nope.trc")])
    assert missing.exit_code != 0 and "cannot open" in str(missing.exception or missing.output)
