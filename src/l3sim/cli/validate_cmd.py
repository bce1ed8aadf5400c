"""``l3sim validate``: the GPU cost model against measured timings (Vidur profiles), its fit, and the predictors."""

from __future__ import annotations

from pathlib import Path

import typer

from l3sim.cli.output import Output, with_output
from l3sim.errors import ConfigError
from l3sim.outputs import check_writable, write_text

#: In a source checkout, the measured profiles sit beside it in ../shared (not part of the project; an
#: installed l3sim has no such folder and needs --profiles or L3SIM_PROFILES).
_CHECKOUT = Path(__file__).resolve().parents[3]
CHECKOUT_PROFILES = _CHECKOUT.parent / "shared" / "profiles" / "vidur-a100"
PROFILES_HELP = ("folder of Vidur *_mlp.csv and all-reduce CSVs, or a Vidur checkout's data/profiling/compute/<gpu> "
                 "(default: $L3SIM_PROFILES, else ../shared/profiles/vidur-a100 beside a source checkout)")
PROFILES_SOURCE = (
    "The measured A100 timings come from Vidur (https://github.com/microsoft/vidur, MIT licence): copy its "
    "data/profiling/compute/a100/<org>/<model>/mlp.csv files as <model>_mlp.csv (e.g. Llama-2-70b-hf_mlp.csv) "
    "and data/profiling/network/a100_dgx/all_reduce.csv as a100_dgx_all_reduce.csv into one folder, then pass "
    "--profiles FOLDER or set L3SIM_PROFILES=FOLDER (docs/gpu-model.md)."
)



def profiles_folder(profiles: Path | None) -> Path:
    """The profiles folder to read: ``profiles`` (from --profiles or L3SIM_PROFILES), else the checkout's
    ../shared; ConfigError saying where to get the data when there is none."""
    if profiles is None:
        if (_CHECKOUT / "pyproject.toml").is_file() and CHECKOUT_PROFILES.is_dir():
            return CHECKOUT_PROFILES
        raise ConfigError("no measured GPU profiles: --profiles not given, L3SIM_PROFILES not set, and no "
                          f"../shared/profiles/vidur-a100 beside a source checkout. {PROFILES_SOURCE}")
    if not profiles.is_dir():
        raise ConfigError(f"--profiles {profiles}: folder not found. {PROFILES_SOURCE}")
    return profiles


validate_app = typer.Typer(help="Compare l3sim's cost models with measurements.", no_args_is_help=True)


def _platform(platform_name: str, gpu_name: str | None):
    """The platform preset, with its GPU replaced by ``gpu_name`` (a preset or TOML file) if given."""
    from l3sim.spec.platform import PlatformSpec
    from l3sim.spec.presets import load_preset_data

    data, source = load_preset_data("platforms", platform_name)
    if gpu_name is not None:
        data = {**data, "gpu": load_preset_data("gpus", gpu_name)[0]}
        data["gpu"].setdefault("name", Path(gpu_name).stem)
    return PlatformSpec.parse(data, source=source)


def _toml_value(value) -> str:
    return repr(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else f'"{value}"'


def write_gpu_toml(path: Path, gpu, header: list[str]) -> None:
    """``gpu`` (a GPUSpec) as a GPU preset file with its [calibration] table; ``header`` lines become comments."""
    fields = gpu.model_dump(exclude={"calibration"})
    lines = [f"# {line}" for line in header]
    lines += [f"{key} = {_toml_value(value)}" for key, value in fields.items()]
    lines += ["", "[calibration]"] + [f"{key} = {_toml_value(v)}" for key, v in gpu.calibration.model_dump().items()]
    write_text(path, "\n".join(lines) + "\n", "--out")


def _fit(profiles: Path, pattern: str, out: Path | None, platform, cost, output: Output) -> None:
    """--fit: calibrate on the matching profiles, write the GPU preset, report every profile's error."""
    from l3sim.hw.gpu.fit import fit_all_reduce, fit_calibration
    from l3sim.hw.gpu.profile_points import find_profiles, load_profile_points, profile_name
    from l3sim.hw.gpu.validation import summary_line, validate_gpu
    from l3sim.hw.profiles import load_vidur_all_reduce_csv

    if out is None:
        raise ConfigError("--fit needs --out FILE.toml (where the fitted GPU preset is written)")
    check_writable(out, "--out")
    files = find_profiles(profiles, pattern)
    if not files:
        raise ConfigError(f"--fit: no files in {profiles} match {pattern!r}")
    calibration, rms = fit_calibration([load_profile_points(f) for f in files], platform.gpu)
    gpu = platform.gpu.model_copy(update={"calibration": calibration, "name": f"{platform.gpu.name}-fit"})
    fit_names = [profile_name(f) for f in files]
    header = [f"l3sim validate gpu --fit on {', '.join(fit_names)} (RMS relative kernel error {rms:.3f})"]
    allreduce = None
    reduce_files = sorted(profiles.glob("*all_reduce*.csv"))
    if reduce_files:
        latency, efficiency = fit_all_reduce(load_vidur_all_reduce_csv(reduce_files[0]), platform.gpu)
        allreduce = {"allreduce_latency_s": latency, "allreduce_bus_efficiency": efficiency}
        header.append(f"platform all-reduce fit on {reduce_files[0].name}: allreduce_latency_s = {latency!r}, "
                      f"allreduce_bus_efficiency = {efficiency!r}")
    write_gpu_toml(out, gpu, header)
    fitted = platform.model_copy(update={"gpu": gpu, **(allreduce or {})})
    reports = []
    for name in map(profile_name, find_profiles(profiles, "*_mlp.csv")):
        result = validate_gpu(profiles, fitted, cost, name)
        reports.append({"file": name, "used_in_fit": name in fit_names,
                        **{k: result[k] for k in ("fc_mape", "fc_mape_by_bucket", "fc_mape_by_tp", "fc_mape_worst_cell",
                                                  "layer_mape", "allreduce_mape", "allreduce_mape_by_size")},
                        "summary": summary_line(result)})
    if output.machine:
        output.data({"out": str(out), "calibration": calibration.model_dump(), "rms_relative_error": rms,
                    "allreduce": allreduce, "profiles": reports})
        return
    output.text(f"wrote {out}: " + ", ".join(f"{k} = {v:.4g}" for k, v in calibration.model_dump().items()))
    if allreduce:
        output.text("all-reduce fit: " + ", ".join(f"{k} = {v:.4g}" for k, v in allreduce.items()))
    for report in reports:
        output.text(("fit      " if report["used_in_fit"] else "held out ") + f"{report['file']}: {report['summary']}")


@validate_app.command("gpu")
@with_output
def gpu(
    profiles: Path | None = typer.Option(None, "--profiles", envvar="L3SIM_PROFILES", help=PROFILES_HELP),
    pattern: str = typer.Option("*_mlp.csv", "--files", help="glob of the MLP profiles to compare (or, with --fit, to fit on)"),
    gpu_name: str | None = typer.Option(None, "--gpu", help="GPU preset (or TOML file) the profiles were measured on "
                                        "(default: the platform's)"),
    platform_name: str = typer.Option("dgx-a100", "--platform", help="platform preset (its all-reduce parameters)"),
    overrides: list[str] = typer.Option([], "--set", help="override a GPUCostSpec field: key=value "
                                        "(e.g. cost_source=roofline, compute_util=0.7)"),
    fit: bool = typer.Option(False, "--fit", help="fit the calibrated model's efficiencies on the --files profiles"),
    out: Path | None = typer.Option(None, "--out", help="with --fit: the GPU preset TOML to write"),
    output: Output = Output(),
) -> None:
    """Error of the GPU cost source against measured profiles: a one-line summary, then per TP and token bucket."""
    from l3sim.hw.gpu.validation import ERROR_COLUMNS, summary_line, validate_gpu
    from l3sim.spec.presets import apply_overrides
    from l3sim.spec.run import GPUCostSpec

    platform = _platform(platform_name, gpu_name)
    cost = GPUCostSpec.parse(apply_overrides(GPUCostSpec().model_dump(), overrides), source="gpu cost (--set)")
    folder = profiles_folder(profiles)
    if fit:
        _fit(folder, pattern, out, platform, cost, output)
        return
    result = validate_gpu(folder, platform, cost, pattern)
    if output.machine:
        output.data(result)
        return
    output.text(summary_line(result))
    mlp = [{**row, "file": row["file"].removesuffix("_mlp.csv")} for row in result["mlp"]]
    output.rows(f"{cost.cost_source} / measured - 1, per MLP layer (file: <model>_mlp.csv)", mlp,
                ["file", "tp", "tokens", "operator", *ERROR_COLUMNS])
    if result["all_reduce"]:
        output.rows("ring all-reduce model / measured - 1", result["all_reduce"], ["tp", "size", *ERROR_COLUMNS])
    if result["attention"]:
        output.rows(f"{cost.cost_source} attention / measured - 1, one layer", result["attention"],
                    ["file", "tp", "kind", *ERROR_COLUMNS])


@validate_app.command("predictors")
@with_output
def predictors(
    samples: int = typer.Option(1000, "--samples", help="points drawn from the l3 system per model (paper: 1,000)"),
    output: Output = Output(),
) -> None:
    """L3 scheduler's predictors: relative error on an 8:2 split, GPT-175B and QWEN-72B on the paper's platform."""
    from l3sim.experiments.predictor_validation import validate_predictors

    results = [validate_predictors(model, samples) for model in ("gpt-175b", "qwen-72b")]
    if output.machine:
        output.data(results)
        return
    rows = [{"model": r["model"], "stage": stage, **r[stage]} for r in results for stage in ("gpu", "pim")]
    output.rows("|predicted / actual - 1| on the held-out 20 %", rows, ["model", "stage", "points", "mean", "median", "p99", "max"])


def register(app: typer.Typer) -> None:
    """Add ``validate``."""
    app.add_typer(validate_app, name="validate")
