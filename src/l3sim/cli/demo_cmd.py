"""``l3sim demo``: the main job on the embedded default, with a short Markdown + PNG report.

For now the default is the GPU-only run of GPT-175B (TP8) on 1,000 OpenR1
requests, offline, on a DGX-A100; the comparison of L3 against its baselines
replaces it when those systems land.
"""

from __future__ import annotations

from pathlib import Path

import typer

from l3sim.cli.run_cmd import run_progress, show_result
from l3sim.spec.run import build_run_spec

DEMO_FIELDS = {"platform": "dgx-a100", "model": "gpt-175b", "workload": "openr1", "system": "gpu-only", "requests": 1000}
DEMO_COMMAND = "l3sim run --platform dgx-a100 --system gpu-only --model gpt-175b --workload openr1 --requests 1000"


def demo(
    out: Path = typer.Option(Path("l3sim-out"), "--out", help="directory for report.md and its files"),
    as_json: bool = typer.Option(False, "--json", help="print the metrics as one JSON object"),
) -> None:
    """Run the default study and write report.md, run.png, result.json and requests.csv into --out."""
    from l3sim.report import write_demo_report
    from l3sim.serving import simulate

    with run_progress(enabled=not as_json) as progress:
        result = simulate(build_run_spec(**DEMO_FIELDS), progress=progress)
    show_result(result, as_json)
    paths = write_demo_report(result, out, DEMO_COMMAND)
    if not as_json:
        typer.echo(f"report: {paths[0]}", err=True)


def register(app: typer.Typer) -> None:
    """Add ``l3sim demo`` to the application."""
    app.command("demo")(demo)
