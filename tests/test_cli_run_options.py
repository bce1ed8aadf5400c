"""The options ``l3sim run`` and ``l3sim compare`` share (``l3sim.cli.run_options``)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from l3sim.cli import app
from l3sim.cli.run_options import PLATFORM_OPTION, RunOptions, with_run_options
from l3sim.errors import ConfigError

SHARED = ["--platform", "--model", "--workload", "--trace", "--trace-format", "--requests", "--arrival", "--seed"]
SHARED += ["--tp", "--dp", "--assumptions", "--set"]


def options_of(command: str) -> dict[str, tuple[object, str | None]]:
    """``--option: (default, help)`` of one ``l3sim`` command, in ``--help`` order."""
    click_command = typer.main.get_command(app).commands[command]  # type: ignore[attr-defined]
    return {param.opts[0]: (param.default, param.help) for param in click_command.params}


def test_run_and_compare_expose_the_same_run_options_in_help_order() -> None:
    run, compare = options_of("run"), options_of("compare")
    assert list(run) == ["--platform", "--system", "--scheduler", *SHARED[1:], "--spec", "--out", "--format",
                         "--json", "--wide", "--timeline", "--timeline-window", "--timeline-max-events", "--explain", "--slo"]
    assert list(compare) == ["--systems", *SHARED, "--format", "--json", "--wide", "--explain", "--slo", "--out"]
    assert {name: run[name] for name in SHARED} == {name: compare[name] for name in SHARED}
    assert run["--model"] == ("gpt-175b", "model preset, TOML path, or a Hugging Face config.json (or its folder)")
    assert run["--requests"][0] == 1000 and run["--platform"][0] == "dgx-a100"


def test_the_command_gets_one_run_options_object() -> None:
    seen: list[tuple[str, RunOptions, bool]] = []
    demo = typer.Typer()

    @demo.command()
    @with_run_options
    def show(
        platform: str = PLATFORM_OPTION,
        options: RunOptions = RunOptions(),
        flag: bool = typer.Option(False, "--flag"),
    ) -> None:
        """Record what it was given."""
        seen.append((platform, options, flag))

    argv = ["--platform", "p", "--trace", "t.csv", "--tp", "2", "--set", "a=1", "--set", "b=2", "--flag"]
    result = CliRunner().invoke(demo, argv)
    assert result.exit_code == 0, result.output
    expected = RunOptions(trace=Path("t.csv"), tp=2, overrides=["a=1", "b=2"])
    assert seen == [("p", expected, True)]
    assert CliRunner().invoke(demo, []).exit_code == 0
    assert seen[-1] == ("dgx-a100", RunOptions(), False)
    assert show.__doc__ == "Record what it was given."


def test_workload_and_trace_together_are_a_config_error() -> None:
    options = dataclasses.replace(RunOptions(), workload="openr1", trace=Path("x.csv"))
    with pytest.raises(ConfigError, match="either --workload or --trace"):
        options.run_spec(platform="dgx-a100", system="gpu-only", scheduler=None)
