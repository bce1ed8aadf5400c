"""``l3sim run``: one serving simulation, printed as a table (or JSON), optionally written to --out DIR."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from l3sim.cli.output import print_json, print_mapping
from l3sim.errors import ConfigError
from l3sim.spec.run import RunSpec, build_run_spec

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


def make_run_spec(
    *,
    platform: str,
    system: str,
    scheduler: str | None,
    model: str,
    workload: str | None,
    trace: Path | None,
    trace_format: str | None,
    requests: int | None,
    arrival: str,
    seed: int,
    tp: int | None,
    dp: int | None,
    overrides: list[str],
) -> RunSpec:
    """The RunSpec of the command-line options (presets by name, --set overrides last)."""
    if trace is not None and workload is not None:
        raise ConfigError("give either --workload or --trace, not both")
    fields: dict[str, Any] = {
        "platform": platform,
        "system": system,
        "scheduler": scheduler,
        "model": model,
        "requests": None if requests == 0 else requests,
        "arrival": arrival,
        "seed": seed,
    }
    if trace is not None:
        from l3sim.workload import workload_from_trace_path

        fields["workload"] = workload_from_trace_path(trace, trace_format)
    else:
        fields["workload"] = workload or "openr1"
    if tp is not None or dp is not None:
        from l3sim.spec.model import ModelSpec
        from l3sim.spec.presets import load_preset_data

        default = ModelSpec.parse(load_preset_data("models", model)[0]).parallel
        fields["parallel"] = {"tp": tp or default.tp, "dp": dp or default.dp}
    return build_run_spec(overrides, **fields)


def run(
    platform: str = typer.Option("dgx-a100", "--platform", help="platform preset or TOML path"),
    system: str = typer.Option("gpu-only", "--system", help="system name (l3sim presets systems)"),
    scheduler: str = typer.Option(None, "--scheduler", help="scheduler name (default: the system's)"),
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
    out: Path = typer.Option(None, "--out", help="write result.json, requests.csv and run.png here"),
    as_json: bool = typer.Option(False, "--json", help="print the metrics as one JSON object"),
    timeline: Path = typer.Option(None, "--timeline", help="write a Chrome trace JSON (Perfetto) of the run here"),
) -> None:
    """Simulate serving a workload on one system and print throughput and latency metrics."""
    from l3sim.serving import simulate

    spec = make_run_spec(
        platform=platform,
        system=system,
        scheduler=scheduler,
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
    with run_progress(enabled=not as_json) as progress:
        result = simulate(spec, progress=progress)
    show_result(result, as_json)
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


def show_result(result: Any, as_json: bool) -> None:
    """Print a RunResult: JSON, or a table; warnings and OOM go to stderr either way."""
    for warning in result.warnings:
        typer.echo(f"warning: {warning}", err=True)
    if result.oom:
        typer.echo(f"does not fit (OOM): {result.oom_reason}", err=True)
    if as_json:
        print_json(result.to_dict())
    else:
        data = result.to_dict()
        data.pop("never_fit_ids")
        data.pop("warnings")
        print_mapping(f"l3sim run: {result.system} / {result.model} / {result.workload}", data)


def register(app: typer.Typer) -> None:
    """Add ``l3sim run`` to the application."""
    app.command("run")(run)
