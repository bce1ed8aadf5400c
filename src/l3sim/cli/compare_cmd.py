"""``l3sim compare``: several systems on the same model, workload and requests, one row each."""

from __future__ import annotations

from pathlib import Path

import typer

from l3sim.cli.output import print_json, print_rows
from l3sim.cli.run_cmd import make_run_spec

DEFAULT_SYSTEMS = "gpu-only,hbm-pim,hbm-pim-ext,cpu-offload,r-pim,l3"


def compare(
    systems: str = typer.Option(DEFAULT_SYSTEMS, "--systems", help="comma-separated system names"),
    platform: str = typer.Option("dgx-a100", "--platform", help="platform preset or TOML path"),
    model: str = typer.Option("gpt-175b", "--model", help="model preset or TOML path"),
    workload: str = typer.Option(None, "--workload", help="workload preset or TOML path (default: openr1)"),
    trace: Path = typer.Option(None, "--trace", help="request trace file (Azure/Mooncake/CSV/JSONL)"),
    trace_format: str = typer.Option(None, "--trace-format", help="azure | mooncake | csv | jsonl (default: guessed)"),
    requests: int = typer.Option(1000, "--requests", help="requests to draw (0: the whole trace)"),
    arrival: str = typer.Option("offline", "--arrival", help="offline | poisson:RATE | trace[:SCALE]"),
    seed: int = typer.Option(0, "--seed", help="seed of every random draw"),
    tp: int = typer.Option(None, "--tp", help="tensor-parallel degree (default: the model preset's)"),
    dp: int = typer.Option(None, "--dp", help="data-parallel degree (default: the model preset's)"),
    overrides: list[str] = typer.Option(None, "--set", help="override any spec field: dotted.key=value"),
    as_json: bool = typer.Option(False, "--json", help="print the rows as a JSON list"),
) -> None:
    """Run every system on the same requests; print throughput (normalised to gpu-only, else l3) and more."""
    from l3sim.serving.compare import TABLE_COLUMNS, compare as run_all, comparison_rows, parse_systems, table_row

    specs = [
        make_run_spec(
            platform=platform,
            system=name,
            scheduler=None,
            model=model,
            workload=workload,
            trace=trace,
            trace_format=trace_format,
            requests=requests,
            arrival=arrival,
            seed=seed,
            tp=tp,
            dp=dp,
            overrides=overrides or [],
        )
        for name in parse_systems(systems)
    ]
    results = run_all(specs)
    rows = comparison_rows(results)
    for result in results:
        for warning in result.warnings:
            typer.echo(f"warning ({result.system}): {warning}", err=True)
        if result.oom:
            typer.echo(f"{result.system} does not fit (OOM): {result.oom_reason}", err=True)
    if as_json:
        print_json(rows)
    else:
        title = f"l3sim compare: {specs[0].model.name} / {specs[0].workload.name} / {requests} requests"
        print_rows(title, [table_row(row) for row in rows], list(TABLE_COLUMNS))


def register(app: typer.Typer) -> None:
    """Add ``l3sim compare`` to the application."""
    app.command("compare")(compare)
