"""``l3sim roofline``: the disaggregated roofline at one context, as JSON, a table, or roofline.png + roofline.csv."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import typer

from l3sim.cli.output import Output, with_output
from l3sim.errors import ConfigError
from l3sim.outputs import atomic_write, check_writable, save_figure

#: Fields a ``--run`` result.json must carry (``l3sim run --out``).
RUN_FIELDS = ("avg_batch_size", "throughput_tok_s")


def read_run_point(path: Path) -> dict[str, Any]:
    """The operating point of a result.json: system, avg batch size and throughput; errors name file and field."""
    from l3sim.inputs import load_json

    data = load_json(path, "--run file")
    if not isinstance(data, dict):
        raise ConfigError(f"--run {path}: expected a JSON object (a result.json of `l3sim run --out`)")
    point = {"system": str(data.get("system", "run"))}
    for name in RUN_FIELDS:
        value = data.get(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise ConfigError(f"--run {path}: field {name!r} must be a positive number, got {value!r}")
        point[name] = float(value)
    return point


def curve_rows(curves) -> list[dict[str, Any]]:
    """One row per (device, batch): FC roof, attention roof, combined (NaN above the capacity limit)."""
    rows = []
    for roof in curves.devices:
        att, combined = curves.device_curves(roof)
        for batch, fc, a, c in zip(curves.batches.tolist(), curves.fc_tok_s.tolist(), att.tolist(), combined.tolist()):
            rows.append({"device": roof.name, "batch": batch, "fc_tok_s": fc, "attention_tok_s": a,
                         "throughput_tok_s": c})
    return rows


def plot_roofline(curves, summaries: list[dict], run: dict | None, title: str, path: Path) -> None:
    """Log-log: the FC roof, each device's combined curve up to its capacity limit, its best point, the run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5))
    ax.plot(curves.batches, curves.fc_tok_s, color="black", linewidth=2, label="GPU FC roof")
    for roof, summary in zip(curves.devices, summaries):
        att, combined = curves.device_curves(roof)
        (line,) = ax.plot(curves.batches, combined, linewidth=1.5, label=roof.name)
        ax.plot(curves.batches, att, linestyle=":", linewidth=0.8, color=line.get_color())
        if summary["max_batch"] >= 1:
            ax.axvline(summary["max_batch"], linestyle="--", linewidth=0.6, color=line.get_color())
            ax.plot([summary["operating_batch"]], [summary["operating_tok_s"]], "o", color=line.get_color())
    if run is not None:
        ax.plot([run["avg_batch_size"]], [run["throughput_tok_s"]], "*", markersize=14, color="red",
                label=f"run: {run['system']}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("batch size (requests per replica)")
    ax.set_ylabel("decode throughput (tokens/s)")
    ax.set_title(title + "\n(dotted: attention roof; dashed: capacity limit; dot: best reachable point)",
                 fontsize="medium")
    ax.legend(fontsize="small")
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    plt.close(fig)


@with_output
def roofline_command(
    platform: str = typer.Option("dgx-a100", "--platform", help="platform preset or TOML path"),
    model: str = typer.Option("gpt-175b", "--model", help="model preset or TOML path"),
    context: int = typer.Option(..., "--context", help="context length N of every request, tokens"),
    memory: str = typer.Option("dgx-a100-l3", "--memory", help="host memory preset (DIMMs) or TOML path"),
    devices: list[str] = typer.Option(None, "--device", help="attention device (repeat; default: all)"),
    overrides: list[str] = typer.Option(None, "--set", help="override any run-spec field: dotted.key=value"),
    run: Path = typer.Option(None, "--run", help="result.json of `l3sim run --out`: mark its operating point"),
    out: Path = typer.Option(None, "--out", help="write roofline.png and roofline.csv here"),
    output: Output = Output(),
) -> None:
    """Throughput = min(GPU FC at batch B, attention device) with B capped by capacity, per attention device."""
    from l3sim.hw.roofline import roofline
    from l3sim.serving.systems import roofline_devices
    from l3sim.spec.run import build_run_spec

    spec = build_run_spec(overrides or [], platform=platform, model=model, workload="openr1", memory=memory)
    if out is not None:
        check_writable(out, "--out", folder=True)
    curves = roofline(spec, context, roofline_devices(devices or None))
    summaries = [curves.summary(roof) for roof in curves.devices]
    point = read_run_point(run) if run is not None else None
    title = f"{spec.model.name} on {spec.platform.name} + {spec.memory.name}, context {context} tokens"
    if out is not None:
        import pandas as pd

        from l3sim.report.run_outputs import prepare_out_dir

        folder = prepare_out_dir(out)
        table = pd.DataFrame(curve_rows(curves))
        atomic_write(folder / "roofline.csv", lambda tmp: table.to_csv(tmp, index=False))
        plot_roofline(curves, summaries, point, title, folder / "roofline.png")
    if output.machine:
        output.data({"context_tokens": context, "model": spec.model.name, "platform": spec.platform.name,
                    "memory": spec.memory.name, "kv_bytes_per_request": curves.kv_bytes_per_request,
                    "devices": summaries, "run": point, "curve": curve_rows(curves)})
        return
    output.rows(f"roofline: {title}", summaries,
                ["device", "operating_tok_s", "bound", "attention_roof_tok_s", "max_batch", "operating_batch",
                 "ridge_batch"])
    if point is not None:
        typer.echo(f"run {point['system']}: batch {point['avg_batch_size']:.4g}, "
                   f"{point['throughput_tok_s']:.4g} tokens/s")


def register(app: typer.Typer) -> None:
    """Add ``l3sim roofline``."""
    app.command("roofline")(roofline_command)
