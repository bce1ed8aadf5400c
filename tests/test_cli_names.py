"""Consistent option names: ``hw --memory`` (a host memory preset) and ``dram pattern --trace-format`` (the
trace's format; ``--format`` is the output table's everywhere else), with the old spellings still accepted
and a hint (issue 13 item 3)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from l3sim.cli import app

RUNNER = CliRunner()


def test_hw_memory_and_its_old_spelling_give_the_same_report_and_the_old_one_a_hint() -> None:
    pytest.importorskip("l3sim.hw.dram.engine")
    new = RUNNER.invoke(app, ["hw", "--memory", "ddr5-server", "--json"])
    old = RUNNER.invoke(app, ["hw", "--platform", "ddr5-server", "--json"])
    assert new.exit_code == 0 and old.exit_code == 0, new.output + old.output
    assert json.loads(new.stdout) == json.loads(old.stdout)
    assert json.loads(new.stdout)["platform"] == "ddr5-server"  # the memory preset asked for, not the default
    assert "--memory" in old.stderr and "GPU platform" in old.stderr
    assert "warning" not in new.stderr


def test_hw_help_shows_memory_not_the_old_spelling() -> None:
    for args in (["hw", "--help"], ["hw", "validate", "--help"]):
        result = RUNNER.invoke(app, args)
        assert result.exit_code == 0
        assert "--memory" in result.stdout and "--platform" not in result.stdout


def test_dram_pattern_trace_format_and_its_old_spelling_give_the_same_trace_and_the_old_one_a_hint() -> None:
    pattern = ["dram", "pattern", "seq-read", "--count", "3"]
    new = RUNNER.invoke(app, [*pattern, "--trace-format", "ramulator"])
    old = RUNNER.invoke(app, [*pattern, "--format", "ramulator"])
    assert new.exit_code == 0 and old.exit_code == 0, new.output + old.output
    # Ramulator's LoadStore lines (not the default DRAMsim3 ones), one 64-byte burst apart on RoBaRaCoCh
    assert new.stdout.splitlines() == old.stdout.splitlines() == ["LD 0x0", "LD 0x40", "LD 0x80"]
    assert "--trace-format" in old.stderr and "warning" not in new.stderr
    help_text = RUNNER.invoke(app, ["dram", "pattern", "--help"]).stdout
    assert "--trace-format" in help_text and "--format " not in help_text
