"""``l3sim run``: one serving simulation, printed as a table (or JSON), optionally written to --out DIR."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from l3sim.cli.output import print_json, print_mapping, print_rows
from l3sim.cli.run_options import PLATFORM_OPTION, RunOptions, with_run_options

# Runs with fewer requests than this finish too fast for a progress bar to help.
PROGRESS_MIN_REQUESTS = 200


@contextmanager
def run_progress(enabled: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A rich progress bar on stderr fed by ``simulate``'s ``progress(done, total)``."""
    if not enabled:
        yield None
        return
    progress = Progress(
        TextColumn("serving"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    with progress:
        task = progress.add_task("serving", total=None)

        def update(done: int, total: int) -> None:
            if total >= PROGRESS_MIN_REQUESTS:
                progress.update(task, completed=done, total=total)

        yield update


@with_run_options
def run(
    platform: str = PLATFORM_OPTION,
    system: str = typer.Option("gpu-only", "--system", help="system name (l3sim presets systems)"),
    scheduler: str = typer.Option(None, "--scheduler", help="scheduler name (default: the system's)"),
    options: RunOptions = RunOptions(),
    out: Path = typer.Option(None, "--out", help="write result.json, requests.csv and run.png here"),
    as_json: bool = typer.Option(False, "--json", help="print the metrics as one JSON object"),
    timeline: Path = typer.Option(None, "--timeline", help="write a Chrome trace JSON (Perfetto) of the run here"),
    explain: bool = typer.Option(
        False, "--explain", help="print where the time goes: the bound and each loss (docs/validation.md)"
    ),
    slo: str = typer.Option(None, "--slo", help="latency SLOs, e.g. ttft_p99=2s,tbt_p99=200ms (docs/serving.md)"),
) -> None:
    """Simulate serving a workload on one system and print throughput and latency metrics."""
    from l3sim.serving import simulate
    from l3sim.serving.slo import parse_slo, slo_row

    targets = parse_slo(slo) if slo is not None else None
    spec = options.run_spec(platform=platform, system=system, scheduler=scheduler)
    check_outputs(out, timeline)
    with run_progress(enabled=not as_json) as progress:
        result = simulate(spec, progress=progress)
    slo_fields = slo_row(result, targets) if targets else {}
    show_result(result, as_json, explain, slo_fields)
    if out is not None:
        from l3sim.report import write_run_outputs

        paths = write_run_outputs(result, out)
        if not as_json:
            typer.echo(f"wrote {', '.join(str(p) for p in paths)}", err=True)
    if timeline is not None and not result.oom:
        from l3sim.report import write_timeline

        write_timeline(result, timeline)
        if not as_json:
            typer.echo(f"wrote {timeline}", err=True)


def check_outputs(out: Path | None, timeline: Path | None) -> None:
    """Refuse unwritable --out / --timeline paths before the simulation runs, not after (l3sim.outputs)."""
    from l3sim.outputs import check_writable

    if out is not None:
        check_writable(out, "--out", folder=True)
    if timeline is not None:
        check_writable(timeline, "--timeline")


def show_result(result: Any, as_json: bool, explain: bool = False, extra: dict[str, Any] | None = None) -> None:
    """Print a RunResult: JSON, or a table; warnings and OOM go to stderr either way. ``explain`` adds the
    bound-and-loss account (JSON: ``bound_s``, ``losses_s`` and the time-averaged batches; else a table);
    ``extra`` fields (the SLO verdict) are added to either."""
    for warning in result.warnings:
        typer.echo(f"warning: {warning}", err=True)
    if result.oom:
        typer.echo(f"does not fit (OOM): {result.oom_reason}", err=True)
    if as_json:
        print_json({**result.to_dict(), **(result.account_dict() if explain else {}), **(extra or {})})
    else:
        data = {**result.to_dict(), **(extra or {})}
        data.pop("never_fit_ids")
        data.pop("warnings")
        print_mapping(f"l3sim run: {result.system} / {result.model} / {result.workload}", data)
        if explain and not result.oom:
            from l3sim.report.account import account_rows

            print_rows("where the time goes (docs/validation.md)", account_rows([result]))


def register(app: typer.Typer) -> None:
    """Add ``l3sim run`` to the application."""
    app.command("run")(run)
