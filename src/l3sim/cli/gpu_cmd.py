"""``l3sim gpu step``: one iteration's time on the GPU side of a replica, split by operator."""

from __future__ import annotations

from typing import Literal

import typer

from l3sim.cli.output import Output, with_output

gpu_app = typer.Typer(help="The GPU cost model on its own.", no_args_is_help=True)


@gpu_app.command("step")
@with_output
def step(
    model: str = typer.Option("gpt-175b", "--model", help="model preset or TOML path"),
    batch: int = typer.Option(..., "--batch", min=1, help="requests in the iteration"),
    context: int = typer.Option(..., "--context", min=0, help="decode: cached tokens per request; prefill: prompt tokens"),
    phase: str = typer.Option("decode", "--phase", help="decode | prefill"),
    platform: str = typer.Option("dgx-a100", "--platform", help="platform preset or TOML path"),
    overrides: list[str] = typer.Option([], "--set", help="override a run-spec field: dotted.key=value "
                                        "(e.g. gpu.cost_source=roofline, parallel.tp=4)"),
    output: Output = Output(),
) -> None:
    """Time of one decode or prefill iteration: FC, attention, all-reduce, other (norms, rotary, adds)."""
    from l3sim.errors import ConfigError
    from l3sim.hw.gpu import GPUCostModel
    from l3sim.hw.gpu.step import step_breakdown
    from l3sim.spec.run import build_run_spec

    if phase not in ("decode", "prefill"):
        raise ConfigError(f"--phase must be decode or prefill, got {phase!r}")
    if phase == "prefill" and context < 1:
        raise ConfigError("--phase prefill needs --context >= 1 (the prompt length)")
    spec = build_run_spec(overrides, platform=platform, model=model, workload="openr1")
    chosen: Literal["decode", "prefill"] = "decode" if phase == "decode" else "prefill"
    result = step_breakdown(GPUCostModel(spec), batch, context, chosen)
    if output.machine:
        output.data(result)
        return
    title = (f"{spec.model.name} on {spec.platform.name} (tp={spec.deployment.tp}, {spec.gpu.cost_source}): "
             f"one {phase} iteration, batch {batch}, context {context}")
    output.mapping(title, {k: v for k, v in result.items() if k != "per_op_s"})
    output.mapping("per operator, s", result["per_op_s"])


def register(app: typer.Typer) -> None:
    """Add ``gpu``."""
    app.add_typer(gpu_app, name="gpu")
