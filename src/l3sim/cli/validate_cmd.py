"""``l3sim validate gpu``: the GPU roofline's error against measured A100 timings (Vidur profiles)."""

from __future__ import annotations

from pathlib import Path

import typer

from l3sim.cli.output import print_json, print_mapping, print_rows

DEFAULT_PROFILES = Path(__file__).resolve().parents[4] / "shared" / "profiles" / "vidur-a100"

validate_app = typer.Typer(help="Compare l3sim's cost models with measurements.", no_args_is_help=True)


@validate_app.command("gpu")
def gpu(
    profiles: Path = typer.Option(DEFAULT_PROFILES, "--profiles", help="folder of Vidur *_mlp.csv and all-reduce CSVs"),
    pattern: str = typer.Option("*_mlp.csv", "--files", help="glob of the MLP profiles to compare"),
    gpu_name: str = typer.Option("a100-80gb", "--gpu", help="GPU preset (or TOML file) the profiles were measured on"),
    overrides: list[str] = typer.Option([], "--set", help="override a GPUCostSpec field: key=value (e.g. compute_util=0.7)"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Per profile, TP degree and token-count bucket: mean and max relative error of each operator and the layer."""
    from l3sim.hw.gpu.validation import ERROR_COLUMNS, validate_gpu
    from l3sim.spec.platform import GPUSpec
    from l3sim.spec.presets import apply_overrides, load_preset_data
    from l3sim.spec.run import GPUCostSpec

    data, source = load_preset_data("gpus", gpu_name)
    gpu_spec = GPUSpec.parse(data, source=source)
    cost = GPUCostSpec.parse(apply_overrides(GPUCostSpec().model_dump(), overrides), source="gpu cost (--set)")
    result = validate_gpu(profiles, gpu_spec, cost, pattern)
    if as_json:
        print_json(result)
        return
    settings = {k: v for k, v in result.items() if k not in ("mlp", "all_reduce")}
    print_mapping("roofline settings", settings)
    print_rows("roofline / measured - 1, per MLP layer", result["mlp"], ["file", "tp", "tokens", "operator", *ERROR_COLUMNS])
    if result["all_reduce"]:
        print_rows("ring all-reduce model / measured - 1", result["all_reduce"], ["tp", "size", *ERROR_COLUMNS])


@validate_app.command("predictors")
def predictors(
    samples: int = typer.Option(1000, "--samples", help="points drawn from the l3 system per model (paper: 1,000)"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """L3 scheduler's predictors: relative error on an 8:2 split, GPT-175B and QWEN-72B on the paper's platform."""
    from l3sim.serving.predictors import validate_predictors

    results = [validate_predictors(model, samples) for model in ("gpt-175b", "qwen-72b")]
    if as_json:
        print_json(results)
        return
    rows = [{"model": r["model"], "stage": stage, **r[stage]} for r in results for stage in ("gpu", "pim")]
    print_rows("|predicted / actual - 1| on the held-out 20 %", rows, ["model", "stage", "points", "mean", "median", "p99", "max"])


def register(app: typer.Typer) -> None:
    """Add ``validate``."""
    app.add_typer(validate_app, name="validate")
