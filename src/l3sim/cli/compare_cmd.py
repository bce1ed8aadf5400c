"""``l3sim compare``: several systems on the same model, workload and requests, one row each."""

from __future__ import annotations

import typer

from l3sim.cli.output import print_json, print_rows
from l3sim.cli.run_options import PLATFORM_OPTION, RunOptions, with_run_options

DEFAULT_SYSTEMS = "gpu-only,hbm-pim,hbm-pim-ext,cpu-offload,r-pim,l3"


@with_run_options
def compare(
    systems: str = typer.Option(DEFAULT_SYSTEMS, "--systems", help="comma-separated system names"),
    platform: str = PLATFORM_OPTION,
    options: RunOptions = RunOptions(),
    as_json: bool = typer.Option(False, "--json", help="print the rows as a JSON list"),
    explain: bool = typer.Option(
        False, "--explain", help="also show every system's bound and losses side by side (docs/validation.md)"
    ),
    slo: str = typer.Option(None, "--slo", help="latency SLOs, e.g. ttft_p99=2s,tbt_p99=200ms (docs/serving.md)"),
) -> None:
    """Run every system on the same requests; print throughput (normalised to gpu-only, else l3) and more."""
    from l3sim.serving.compare import TABLE_COLUMNS, compare as run_all, comparison_rows, parse_systems, table_row
    from l3sim.serving.slo import SLO_COLUMNS, parse_slo, slo_row

    targets = parse_slo(slo) if slo is not None else None
    specs = [
        options.run_spec(platform=platform, system=name, scheduler=None)
        for name in parse_systems(systems)
    ]
    results = run_all(specs)
    rows = comparison_rows(results)
    if targets:
        rows = [{**row, **slo_row(result, targets)} for row, result in zip(rows, results)]
    for result in results:
        for warning in result.warnings:
            typer.echo(f"warning ({result.system}): {warning}", err=True)
        if result.oom:
            typer.echo(f"{result.system} does not fit (OOM): {result.oom_reason}", err=True)
    if as_json:
        print_json([{**row, **result.account_dict()} for row, result in zip(rows, results)] if explain else rows)
    else:
        title = f"l3sim compare: {specs[0].model.name} / {specs[0].workload.name} / {options.requests} requests"
        columns = list(TABLE_COLUMNS) + (list(SLO_COLUMNS) if targets else [])
        print_rows(title, [{**table_row(row), **{c: row[c] for c in SLO_COLUMNS if c in row}} for row in rows],
                   columns)
        if explain:
            from l3sim.report.account import account_rows

            print_rows("where the time goes (docs/validation.md)", account_rows(results))


def register(app: typer.Typer) -> None:
    """Add ``l3sim compare`` to the application."""
    app.command("compare")(compare)
