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


def register(app: typer.Typer) -> None:
    """Add ``validate``."""
    app.add_typer(validate_app, name="validate")
