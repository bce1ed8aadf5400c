"""``l3sim hw``: capacity and bandwidths of a DIMM-PIM host memory; ``l3sim hw validate``: fast model vs engine."""

from __future__ import annotations

from typing import Any

import typer

from l3sim.cli.output import Output, with_output
from l3sim.cli.renamed import renamed_option

PLATFORM_HELP = "host memory preset (kind 'memory': the DIMMs and their PIM units) or a TOML file"
OLD_SPELLING_HELP = "deprecated: the old name of --memory"
SET_HELP = "override a field: dotted.key=value (pim.* for the PIM units, others for the memory)"

hw_app = typer.Typer(help="DIMM-PIM hardware: capacity, bandwidth, the fast model's agreement with the engine.")


@hw_app.callback(invoke_without_command=True)
@with_output
def hw(
    ctx: typer.Context,
    memory: str = typer.Option("dgx-a100-l3", "--memory", help=PLATFORM_HELP),
    platform: str = typer.Option(None, "--platform", hidden=True, help=OLD_SPELLING_HELP),
    overrides: list[str] = typer.Option([], "--set", help=SET_HELP),
    output: Output = Output(),
) -> None:
    """Capacity, CPU / rank-PIM / bank-PIM peak bandwidths and the engine-measured streaming bandwidth."""
    platform = memory_option(memory, platform)
    if ctx.invoked_subcommand is not None:
        return
    from l3sim.hw.pim.memory_report import memory_report
    from l3sim.hw.pim.system import load_pim_system

    system = load_pim_system(platform, overrides)
    result = {"platform": platform, **memory_report(system.memory, system.pim)}
    if output.machine:
        output.data(result)
    else:
        output.mapping(f"hw: {platform}", result)


@hw_app.command("validate")
@with_output
def validate(
    memories: list[str] = typer.Option(None, "--memory", help=PLATFORM_HELP + " (repeat; default: DDR4 and DDR5)"),
    platforms: list[str] = typer.Option(None, "--platform", hidden=True, help=OLD_SPELLING_HELP),
    overrides: list[str] = typer.Option([], "--set", help=SET_HELP),
    output: Output = Output(),
) -> None:
    """Run the fast latency model against the command-level engine over contexts 128..131,072, MHA and GQA-8."""
    platforms = memory_option(memories, platforms)
    from l3sim.experiments.progress import progress_bar
    from l3sim.hw.pim.agreement import DEFAULT_PLATFORMS, grid_work, validate_grid

    chosen = platforms or list(DEFAULT_PLATFORMS)
    with progress_bar("engine runs", grid_work(chosen), output.progress, counts=False) as bar:
        result = validate_grid(chosen, overrides, progress=bar.advance)
    if output.machine:
        output.data(result)
        return
    output.rows("fast model vs engine", result["points"],
                ["platform", "attention", "variant", "context_tokens", "rel_err", "rel_err_refresh", "engine_s",
                 "model_s"])
    output.mapping("agreement", {k: result[k] for k in ("max_rel_err", "worst", "max_rel_err_refresh",
                                                        "worst_refresh")})


def memory_option(memory: Any, old_spelling: Any) -> Any:
    """The value of ``--memory``, or of ``--platform`` where that old spelling was given, with a hint: in ``hw``
    it named a host memory preset while ``run --platform`` names a GPU platform, so the option was renamed."""
    return renamed_option(memory, old_spelling, "l3sim hw --platform", "--memory",
                          "it names a host memory preset, kind 'memory'; 'run --platform' names a GPU platform")


def register(app: typer.Typer) -> None:
    """Add ``hw`` and ``hw validate``."""
    app.add_typer(hw_app, name="hw")
