"""``l3sim demo``: the main comparison on the embedded default, with a Markdown + PNG report.

GPT-175B (TP8) on OpenR1 requests, offline, on a DGX-A100 with the paper's DIMM-PIM host, on the six
systems (gpu-only, hbm-pim, hbm-pim-ext, cpu-offload, r-pim, l3). DEMO_REQUESTS keeps ``make demo``
short: 36.8 s of wall time (11.7 s CPU) on a 2-core machine at a load average of 9-10
(docs/performance.md, "The README's commands").
"""

from __future__ import annotations

from pathlib import Path

import typer

from l3sim.cli.compare_cmd import DEFAULT_SYSTEMS, run_systems
from l3sim.cli.output import Output, with_output
from l3sim.outputs import check_writable
from l3sim.spec.run import build_run_spec

DEMO_REQUESTS = 300
DEMO_FIELDS = {"platform": "dgx-a100", "model": "gpt-175b", "workload": "openr1", "requests": DEMO_REQUESTS}
DEMO_COMMAND = (
    f"l3sim compare --systems {DEFAULT_SYSTEMS} --platform dgx-a100 --model gpt-175b --workload openr1 "
    f"--requests {DEMO_REQUESTS}"
)


@with_output
def demo(
    out: Path = typer.Option(Path("l3sim-out"), "--out", help="directory for report.md, report.html and their files"),
    output: Output = Output(),
) -> None:
    """Compare the six systems on the default study and write report.md, report.html and the plots into --out."""
    from l3sim.report.comparison import write_comparison_report
    from l3sim.serving.compare import TABLE_COLUMNS, comparison_rows, table_row

    check_writable(out, "--out", folder=True)
    specs = [build_run_spec(system=name, **DEMO_FIELDS) for name in DEFAULT_SYSTEMS.split(",")]
    results = run_systems(specs, output.progress)
    rows = comparison_rows(results)
    if output.machine:
        output.data(rows)
    else:
        output.rows(f"l3sim demo: {DEMO_COMMAND}", [table_row(row) for row in rows], list(TABLE_COLUMNS))
    paths = write_comparison_report(results, rows, out, DEMO_COMMAND, specs)
    if not output.machine:
        typer.echo(f"report: {paths[0]}, {paths[1]}", err=True)


def register(app: typer.Typer) -> None:
    """Add ``l3sim demo`` to the application."""
    app.command("demo")(demo)
