"""``l3sim study NAME``: named studies, looked up in a registry.

A study is a function ``(platform, overrides, out) -> list[dict]`` returning
rows (and writing its plots into the folder ``out`` when given). Add one with
an entry in :data:`STUDIES`: name -> (one-line help, "module:function"); the
module is imported only when that study runs.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import typer

from l3sim.cli.output import Output, with_output
from l3sim.errors import ConfigError
from l3sim.outputs import check_writable

STUDIES: dict[str, tuple[str, str]] = {
    "hw-ablation": (
        "The paper's hardware ablation: attention latency per PIM variant, normalised to cpu-relayout.",
        "l3sim.hw.pim.ablation:hw_ablation_study",
    ),
}

study_app = typer.Typer(help="Named studies (the paper's figures and ours).")


def run_study(name: str, platform: str, overrides: list[str], out: Path | None) -> list[dict]:
    """Look a study up by name and run it."""
    if name not in STUDIES:
        raise ConfigError(f"unknown study {name!r}; known: {', '.join(sorted(STUDIES))}")
    module, func = STUDIES[name][1].split(":")
    return getattr(importlib.import_module(module), func)(platform, overrides, out)


def _command(name: str):
    def command(
        platform: str = typer.Option("dgx-a100-l3", "--platform", help="memory preset name or TOML file"),
        overrides: list[str] = typer.Option([], "--set", help="override a field: dotted.key=value"),
        out: Path = typer.Option(None, "--out", help="folder for the plot (PNG)"),
        output: Output = Output(),
    ) -> None:
        if out is not None:
            check_writable(out, "--out", folder=True)
        rows = run_study(name, platform, overrides, out)
        if output.machine:
            output.data(rows)
        else:
            output.rows(f"study {name}", rows)

    command.__doc__ = STUDIES[name][0]
    return command


for _name in STUDIES:
    study_app.command(_name)(with_output(_command(_name)))


def register(app: typer.Typer) -> None:
    """Add the ``study`` group."""
    app.add_typer(study_app, name="study")
