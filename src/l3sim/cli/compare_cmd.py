"""``l3sim compare``: several systems on the same model, workload and requests, one row each."""

from __future__ import annotations

from pathlib import Path

import typer

from l3sim.cli.output import Output, csv_text, rows_markdown, with_output
from l3sim.cli.run_options import PLATFORM_OPTION, RunOptions, deployment_note, with_run_options

DEFAULT_SYSTEMS = "gpu-only,hbm-pim,hbm-pim-ext,cpu-offload,r-pim,l3"


def run_systems(specs: list, enabled: bool) -> list:
    """Simulate every spec in order under one progress bar (systems done plus the current run's share)."""
    from l3sim.experiments.progress import progress_bar
    from l3sim.serving.compare import compare as run_all

    with progress_bar("compare", len(specs), enabled, counts=False) as bar:
        order = iter(range(len(specs)))
        return run_all(specs, lambda system: bar.run_callback(next(order), f"compare: {system}"))


@with_output
@with_run_options
def compare(
    ctx: typer.Context,
    systems: str = typer.Option(DEFAULT_SYSTEMS, "--systems", help="comma-separated system names"),
    platform: str = PLATFORM_OPTION,
    options: RunOptions = RunOptions(),
    output: Output = Output(),
    explain: bool = typer.Option(
        False, "--explain", help="also show every system's bound and losses side by side (docs/validation.md)"
    ),
    slo: str = typer.Option(None, "--slo", help="latency SLOs, e.g. ttft_p99=2s,tbt_p99=200ms (docs/serving.md)"),
    out: Path = typer.Option(None, "--out", help="also write the table here as compare.csv and compare.md, and "
                             "the report: report.md, report.html (self-contained) and their plots"),
) -> None:
    """Run every system on the same requests; print throughput (normalised to gpu-only, else l3) and more."""
    from l3sim.cli.invocation import command_line
    from l3sim.report.comparison import write_comparison_report
    from l3sim.outputs import check_writable, write_text
    from l3sim.serving.compare import TABLE_COLUMNS, comparison_rows, parse_systems, table_row
    from l3sim.serving.slo import SLO_COLUMNS, parse_slo, slo_row

    targets = parse_slo(slo) if slo is not None else None
    specs = [
        options.run_spec(platform=platform, system=name, scheduler=None)
        for name in parse_systems(systems)
    ]
    # every system runs the same model on the same platform, so one chosen deployment holds for all
    chosen = deployment_note(specs[0])
    if chosen is not None:
        typer.echo(chosen, err=True)
    if out is not None:
        check_writable(out, "--out", folder=True)
    results = run_systems(specs, output.progress)
    rows = comparison_rows(results)
    if targets:
        rows = [{**row, **slo_row(result, targets)} for row, result in zip(rows, results)]
    for result in results:
        for warning in result.warnings:
            typer.echo(f"warning ({result.system}): {warning}", err=True)
        if result.oom:
            typer.echo(f"{result.system} does not fit (OOM): {result.oom_reason}", err=True)
    data = [{**row, **result.account_dict()} for row, result in zip(rows, results)] if explain else rows
    title = f"l3sim compare: {specs[0].model.name} / {specs[0].workload.name} / {options.requests} requests"
    # SLO verdicts right after the throughput columns: asked for, they matter more than the rest.
    columns = list(TABLE_COLUMNS[:3]) + (list(SLO_COLUMNS) if targets else []) + list(TABLE_COLUMNS[3:])
    table = [{**table_row(row), **{c: row[c] for c in SLO_COLUMNS if c in row}} for row in rows]
    if out is not None:
        write_text(out / "compare.csv", csv_text(data), "--out")
        write_text(out / "compare.md", rows_markdown(title, table, columns), "--out")
        reports = write_comparison_report(results, rows, out, command_line(ctx), specs, options.overrides or [])
    if output.machine:
        output.data(data)
        return
    output.rows(title, table, columns)
    if explain:
        from l3sim.report.account import account_rows

        output.rows("where the time goes (docs/validation.md)", account_rows(results))
    if out is not None:
        typer.echo(f"wrote {out / 'compare.csv'}, {out / 'compare.md'}, {reports[0]}, {reports[1]}", err=True)


def register(app: typer.Typer) -> None:
    """Add ``l3sim compare`` to the application."""
    app.command("compare")(compare)
