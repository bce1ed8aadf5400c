"""``l3sim run``: one serving simulation, printed as a table (or JSON), optionally written to --out DIR."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from l3sim.cli.output import Output, with_output
from l3sim.cli.run_options import PLATFORM_OPTION, RUN_OPTION_NAMES, RunOptions, deployment_note, with_run_options
from l3sim.errors import ConfigError

@with_output
@with_run_options
def run(
    ctx: typer.Context,
    platform: str = PLATFORM_OPTION,
    system: str = typer.Option("gpu-only", "--system", help="system name (l3sim presets systems)"),
    scheduler: str = typer.Option(None, "--scheduler", help="scheduler name (default: the system's)"),
    options: RunOptions = RunOptions(),
    spec_file: Path = typer.Option(
        None, "--spec", help="run the spec saved in a result.json (exactly), or a spec file written by hand "
        "(TOML/JSON, docs/reproducibility.md); --set still applies, the other run options may not be given"
    ),
    out: Path = typer.Option(None, "--out", help="write result.json (metrics and the resolved spec), "
                             "requests.csv and run.png here"),
    output: Output = Output(),
    timeline: Path = typer.Option(None, "--timeline", help="write a Chrome trace JSON (Perfetto) of the run here"),
    timeline_window: str = typer.Option(
        None, "--timeline-window", help="START:END seconds of the run the timeline covers (either may be empty)"
    ),
    timeline_max_events: int = typer.Option(
        None, "--timeline-max-events", min=1, help="most events the timeline file holds (default: 20,000)"
    ),
    explain: bool = typer.Option(
        False, "--explain", help="print where the time goes: the bound and each loss (docs/validation.md)"
    ),
    slo: str = typer.Option(None, "--slo", help="latency SLOs, e.g. ttft_p99=2s,tbt_p99=200ms (docs/serving.md)"),
) -> None:
    """Simulate serving a workload on one system and print throughput and latency metrics."""
    from l3sim.cli.invocation import command_line
    from l3sim.experiments.progress import progress_bar
    from l3sim.report.timeline import parse_window
    from l3sim.serving import simulate
    from l3sim.serving.slo import parse_slo, slo_row
    from l3sim.spec.provenance import provenance

    targets = parse_slo(slo) if slo is not None else None
    window = parse_window(timeline_window) if timeline_window is not None else None
    if spec_file is not None:
        spec = spec_from_file(ctx, spec_file, options.overrides or [])
    else:
        spec = options.run_spec(platform=platform, system=system, scheduler=scheduler)
    chosen = deployment_note(spec)
    if chosen is not None:
        typer.echo(chosen, err=True)
    check_outputs(out, timeline)
    with progress_bar("serving requests", None, output.progress) as bar:
        # the account is shown by --explain and drawn by --out (account.png); other runs skip it
        result = simulate(spec, progress=lambda done, total: bar.set(done, total), account=explain or out is not None,
                          timeline=timeline is not None)
    slo_fields = slo_row(result, targets) if targets else {}
    show_result(result, output, explain, slo_fields)
    if out is not None:
        from l3sim.report import write_run_outputs

        record = provenance(spec, options.overrides or [], command_line(ctx))
        paths = write_run_outputs(result, out, record)
        if not output.machine:
            typer.echo(f"wrote {', '.join(str(p) for p in paths)}", err=True)
    if timeline is not None and not result.oom:
        from l3sim.report import write_timeline

        write_timeline(result, timeline, timeline_max_events, window)
        if not output.machine:
            typer.echo(f"wrote {timeline}", err=True)


#: The options a spec file replaces (``--set`` still applies on top of it).
SPEC_OPTIONS = ("platform", "system", "scheduler", *(name for name in RUN_OPTION_NAMES if name != "overrides"))


def spec_from_file(ctx: typer.Context, path: Path, overrides: list[str]) -> Any:
    """The RunSpec of ``--spec FILE`` with ``--set`` applied; giving another run option with it is an error
    (it would be silently ignored otherwise)."""
    from l3sim.cli.invocation import given
    from l3sim.spec.provenance import load_spec_file
    from l3sim.spec.run import override_run_spec

    clashing = [f"--{name.replace('_', '-')}" for name in SPEC_OPTIONS if given(ctx, name)]
    if clashing:
        raise ConfigError(f"--spec gives the whole run; {', '.join(clashing)} cannot be combined with it "
                          "(change a field with --set dotted.key=value)")
    loaded = load_spec_file(path)
    for text in loaded.notes:
        typer.echo(f"note: {text}", err=True)
    return override_run_spec(loaded.spec, overrides)


def check_outputs(out: Path | None, timeline: Path | None) -> None:
    """Refuse unwritable --out / --timeline paths before the simulation runs, not after (l3sim.outputs)."""
    from l3sim.outputs import check_writable

    if out is not None:
        check_writable(out, "--out", folder=True)
    if timeline is not None:
        check_writable(timeline, "--timeline")


def show_result(result: Any, output: Output, explain: bool = False, extra: dict[str, Any] | None = None) -> None:
    """Print a RunResult: JSON (or CSV), or a table; warnings and OOM go to stderr either way. ``explain`` adds the
    bound-and-loss account (JSON: ``bound_s``, ``losses_s`` and the time-averaged batches; else a table);
    ``extra`` fields (the SLO verdict) are added to either."""
    for warning in result.warnings:
        typer.echo(f"warning: {warning}", err=True)
    if result.oom:
        typer.echo(f"does not fit (OOM): {result.oom_reason}", err=True)
    if output.machine:
        output.data({**result.to_dict(), **(result.account_dict() if explain else {}), **(extra or {})})
    else:
        data = {**result.to_dict(), **(extra or {})}
        data.pop("never_fit_ids")
        data.pop("warnings")
        output.mapping(f"l3sim run: {result.system} / {result.model} / {result.workload}", data)
        if explain and not result.oom:
            from l3sim.report.account import account_rows

            output.rows("where the time goes (docs/validation.md)", account_rows([result]))


def register(app: typer.Typer) -> None:
    """Add ``l3sim run`` to the application."""
    app.command("run")(run)
