"""``l3sim sweep SWEEP.toml``: run a grid of simulations into a resumable results store (docs/sweeps.md)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import typer

from l3sim.cli.output import Output, with_output

DEFAULT_OUT_ROOT = Path("l3sim-sweeps")


@with_output
def sweep(
    ctx: typer.Context,
    sweep_file: Path = typer.Argument(..., help="the sweep file (TOML; see docs/sweeps.md)"),
    backend: str = typer.Option("joblib", "--backend", help="serial | joblib (local processes) | ray"),
    out: Path = typer.Option(None, "--out", help="output directory (default: l3sim-sweeps/<file stem>)"),
    address: str = typer.Option(None, "--address", help="ray only: HOST:PORT of a running cluster, or 'auto'"),
    jobs: int = typer.Option(None, "--jobs", help="local worker processes (default: all CPUs)"),
    no_progress: bool = typer.Option(False, "--no-progress", help="no progress bar"),
    output: Output = Output(),
) -> None:
    """Run every point of the grid not yet in the store; write results.parquet, results.csv and plots.

    Interrupted sweeps resume: run the same command again.
    """
    from l3sim.cli.invocation import command_line
    from l3sim.experiments.runner import require_simulator, run_sweep
    from l3sim.experiments.sweep import load_sweep
    from l3sim.outputs import check_writable

    spec = load_sweep(sweep_file)
    require_simulator()
    out_dir = check_writable(out or DEFAULT_OUT_ROOT / sweep_file.stem, "--out", folder=True)
    try:
        report = run_sweep(
            spec, out_dir, backend=backend, address=address, jobs=jobs, progress=output.progress and not no_progress,
            command_line=command_line(ctx),
        )
    except KeyboardInterrupt:
        typer.echo(f"interrupted: finished points are kept in {out_dir}; run the same command to resume", err=True)
        raise typer.Exit(130) from None
    for key, reason in report.quarantined.items():
        typer.echo(f"warning: damaged store part {key[:16]}... ({reason}) moved to "
                   f"{out_dir / 'store' / 'quarantine'}; its point was recomputed", err=True)
    summary = report.summary()
    if output.machine:
        output.data({**summary, "crashed_errors": report.crashed})
    else:
        output.mapping(f"sweep {sweep_file}", summary)
        for message, count in Counter(report.crashed.values()).items():
            typer.echo(f"{count} point(s) crashed (not stored, retried on the next run): {message}", err=True)
    if report.crashed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``l3sim sweep`` to the application."""
    app.command("sweep")(sweep)
