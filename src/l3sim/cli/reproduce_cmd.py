"""``l3sim reproduce STUDY``: the paper's evaluation, one study or ``all``, into one report."""

from __future__ import annotations

from pathlib import Path

import typer

from l3sim.cli.output import Output, with_output
from l3sim.errors import ConfigError, MissingDependencyError
from l3sim.experiments.executor import BACKENDS
from l3sim.outputs import check_writable


@with_output
def reproduce(
    ctx: typer.Context,
    study: str = typer.Argument(..., help="e2e | breakdown | scalability | scheduler | pcie | hw-ablation | energy | reconcile | serving | all"),
    quick: bool = typer.Option(False, "--quick", help="100 requests per serving run instead of 1,000 (a fast look)"),
    backend: str = typer.Option("joblib", "--backend", help=f"executor: {' | '.join(BACKENDS)}"),
    jobs: int = typer.Option(None, "--jobs", help="local worker processes (default: all CPUs)"),
    address: str = typer.Option(None, "--address", help="Ray cluster HOST:PORT or 'auto' (ray backend only)"),
    out: Path = typer.Option(Path("l3sim-reproduce"), "--out",
                             help="folder of report.md, report.html, CSVs, PNGs and the store"),
    no_progress: bool = typer.Option(False, "--no-progress", help="no progress bar"),
    output: Output = Output(),
    assumptions: str = typer.Option(None, "--assumptions",
                                    help="assumption profile of every run (realistic | paper | TOML path)"),
) -> None:
    """Run the paper's studies; write <study>.csv, <study>.png, report.md and report.html into --out (reruns
    resume)."""
    from l3sim.cli.invocation import command_line
    from l3sim.experiments.study_report import study_configuration, write_failure, write_report, write_study
    from l3sim.experiments.studies import STUDIES, StudyOptions, expand, prefetch_studies, run_study

    names = expand(study)
    check_writable(out, "--out", folder=True)
    if backend not in BACKENDS:
        raise ConfigError(f"--backend {backend!r}: expected one of {', '.join(BACKENDS)}")
    options = StudyOptions(out, quick=quick, backend=backend, jobs=jobs, address=address,
                           progress=output.progress and not no_progress, assumptions=assumptions)
    tables: dict[str, list[dict]] = {}
    failures: dict[str, str] = {}
    # every serving run of the studies (and of each grid of a study) in one pass: the workers do not idle at the
    # end of each study or grid
    prefetch_studies(names, options)
    for name in names:
        try:
            result = run_study(name, options)
        except MissingDependencyError as exc:
            if len(names) == 1:
                raise
            failures[name] = str(exc)
            write_failure(name, str(exc), out)
            continue
        if assumptions is not None:
            result.notes.append(f"every serving run is built with the assumption profile {assumptions!r}")
        write_study(result, out, study_configuration(options, command_line(ctx)))
        tables[name] = result.table.to_dict(orient="records")
    report = write_report(out, STUDIES)
    if output.machine:
        output.data({**tables, **({"not_run": failures} if failures else {})})
        return
    for name, rows in tables.items():
        output.rows(f"reproduce {name}", rows)
    for name, reason in failures.items():
        typer.echo(f"{name}: not run: {reason}", err=True)
    typer.echo(f"report: {report}, {Path(report).with_suffix('.html')}", err=True)


def register(app: typer.Typer) -> None:
    """Add the ``reproduce`` command."""
    app.command("reproduce")(reproduce)
