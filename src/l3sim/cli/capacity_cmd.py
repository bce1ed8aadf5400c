"""``l3sim capacity``: the highest request rate at which a system meets latency SLOs (docs/serving.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from l3sim.cli.output import Output, with_output
from l3sim.cli.run_options import PLATFORM_OPTION, RunOptions
from l3sim.experiments.capacity import SearchSettings

DEFAULTS = SearchSettings()
#: The probe columns the table shows.
PROBE_COLUMNS = ("rate_req_s", "met", "seeds_met", "goodput_tok_s", "slo_met_fraction", "binding_slo",
                 "ttft_p99_s", "tbt_p99_s", "steady")


@with_output
def capacity(
    slo: str = typer.Option(..., "--slo", help="latency SLOs, e.g. ttft_p99=2s,tbt_p99=200ms"),
    system: str = typer.Option("l3", "--system", help="system name (l3sim presets systems)"),
    scheduler: str = typer.Option(None, "--scheduler", help="scheduler name (default: the system's)"),
    platform: str = PLATFORM_OPTION,
    model: str = typer.Option("gpt-175b", "--model", help="model preset or TOML path"),
    workload: str = typer.Option(None, "--workload", help="workload preset or TOML path (default: openr1)"),
    trace: Path = typer.Option(None, "--trace", help="request trace file (Azure/Mooncake/CSV/JSONL)"),
    arrival: str = typer.Option("poisson", "--arrival", help="poisson | gamma:CV | trace"),
    requests: int = typer.Option(DEFAULTS.requests, "--requests", help="requests per probe and seed"),
    seeds: int = typer.Option(DEFAULTS.seeds, "--seeds", help="seeds per probe (0 .. N-1); met when all meet"),
    rel_tol: float = typer.Option(DEFAULTS.rel_tol, "--rel-tol", help="bisection stops at hi/lo - 1 <= this"),
    warmup: float = typer.Option(DEFAULTS.warmup_fraction, "--warmup",
                                 help="share of the arrival span not measured at the start"),
    cooldown: float = typer.Option(DEFAULTS.cooldown_fraction, "--cooldown", help="share not measured at the end"),
    assumptions: str = typer.Option(None, "--assumptions", help="assumption profile (realistic | paper | TOML path)"),
    overrides: list[str] = typer.Option(None, "--set", help="override any spec field: dotted.key=value"),
    output: Output = Output(),
) -> None:
    """Find the highest request rate at which SLOS hold: exponential bracketing, then bisection."""
    from l3sim.experiments.capacity import parse_arrival_kind, probes_left_estimate
    from l3sim.experiments.capacity_run import find_capacity
    from l3sim.experiments.progress import progress_bar
    from l3sim.serving.slo import parse_slo

    targets = parse_slo(slo)
    kind = parse_arrival_kind(arrival)
    settings = SearchSettings(requests=requests, seeds=seeds, rel_tol=rel_tol, warmup_fraction=warmup,
                              cooldown_fraction=cooldown)
    options = RunOptions(model=model, workload=workload, trace=trace, requests=requests,
                         assumptions=assumptions, overrides=overrides)
    base = options.run_spec(platform=platform, system=system, scheduler=scheduler)

    probes: list[dict[str, Any]] = []
    with progress_bar("capacity: saturation run", None, output.progress) as bar:

        def progress(probe: dict[str, Any]) -> None:
            probes.append(probe)
            verdict = "meets" if probe["met"] else "violates"
            bar.log(f"probe {probe['rate_req_s']:.4g} req/s: {verdict} ({probe['binding_slo']})")
            bar.set(len(probes), len(probes) + probes_left_estimate(probes, settings), "capacity: probes")

        result = find_capacity(base, targets, kind, settings, progress)
    if output.machine:
        output.data(result)
        return
    summary = {k: v for k, v in result.items() if k not in ("probes", "settings")}
    output.mapping(f"l3sim capacity: {result['system']} / {result['model']} / {result['workload']}", summary)
    output.rows("probes", result["probes"], list(PROBE_COLUMNS))


def register(app: typer.Typer) -> None:
    """Add ``l3sim capacity`` to the application."""
    app.command("capacity")(capacity)
