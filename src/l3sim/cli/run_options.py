"""The options ``l3sim run`` and ``l3sim compare`` share, declared once.

Both commands build a :class:`~l3sim.spec.run.RunSpec` from the same model and
request options (``--model`` ... ``--set``); only how they pick the system
differs (``--system``/``--scheduler`` against ``--systems``). So that the two
cannot drift apart, those options are written down once, as the fields of
:class:`RunOptions`, and a command takes them all as one parameter::

    @with_run_options
    def run(
        platform: str = PLATFORM_OPTION,
        system: str = typer.Option("gpu-only", "--system", ...),
        ...
        options: RunOptions = RunOptions(),  # --model ... --set, shown here in --help
        ...
    ) -> None:
        spec = options.run_spec(platform=platform, system=system, scheduler=scheduler)

Typer only knows about plain parameters, so :func:`with_run_options` gives
the command a signature in which the ``RunOptions`` parameter is replaced by
one keyword per field (in field order, at that parameter's place, which keeps
the order of ``--help``), and packs the values back into a ``RunOptions``
before calling the command. ``--platform`` is shared as a plain
:data:`PLATFORM_OPTION` instead: ``run`` lists ``--system`` between it and
``--model``, ``compare`` lists ``--systems`` before it.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from pathlib import Path
from typing import Annotated, Any, Callable, TypeVar, get_type_hints

import typer

from l3sim.errors import ConfigError
from l3sim.spec.run import RunSpec, build_run_spec, fitting_deployment

PLATFORM_OPTION: Any = typer.Option("dgx-a100", "--platform", help="platform preset or TOML path")


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """The model, workload and request options of ``run`` and ``compare``; each field is one CLI option."""

    model: Annotated[
        str,
        typer.Option("--model", help="model preset, TOML path, or a Hugging Face config.json (or its folder)"),
    ] = "gpt-175b"
    workload: Annotated[
        str | None, typer.Option("--workload", help="workload preset or TOML path (default: openr1)")
    ] = None
    trace: Annotated[
        Path | None, typer.Option("--trace", help="request trace file (Azure/Mooncake/CSV/JSONL)")
    ] = None
    trace_format: Annotated[
        str | None, typer.Option("--trace-format", help="azure | mooncake | csv | jsonl (default: guessed)")
    ] = None
    requests: Annotated[int, typer.Option("--requests", help="requests to draw (0: the whole trace)")] = 1000
    arrival: Annotated[str, typer.Option("--arrival", help="offline | poisson:RATE | trace[:SCALE]")] = "offline"
    seed: Annotated[int, typer.Option("--seed", help="seed of every random draw")] = 0
    tp: Annotated[
        int | None,
        typer.Option("--tp", help="tensor-parallel degree (default: the model preset's; a model that states none, "
                     "such as a Hugging Face config: the smallest that fits in GPU memory)"),
    ] = None
    dp: Annotated[
        int | None,
        typer.Option("--dp", help="data-parallel degree (default: the model preset's; a model that states none: "
                     "the platform's GPUs / TP)"),
    ] = None
    assumptions: Annotated[
        str | None,
        typer.Option("--assumptions", help="assumption profile (realistic | paper | TOML path), applied before --set"),
    ] = None
    overrides: Annotated[
        list[str] | None, typer.Option("--set", help="override any spec field: dotted.key=value")
    ] = None

    def run_spec(self, *, platform: str, system: str, scheduler: str | None) -> RunSpec:
        """The RunSpec of these options on one system (presets by name, then the assumption profile, --set last)."""
        if self.trace is not None and self.workload is not None:
            raise ConfigError("give either --workload or --trace, not both")
        fields: dict[str, Any] = {
            "platform": platform,
            "system": system,
            "scheduler": scheduler,
            "model": self.model,
            "requests": None if self.requests == 0 else self.requests,
            "arrival": self.arrival,
            "seed": self.seed,
            "assumptions": self.assumptions,
        }
        if self.trace is not None:
            from l3sim.workload import workload_from_trace_path

            fields["workload"] = workload_from_trace_path(self.trace, self.trace_format)
        else:
            fields["workload"] = self.workload or "openr1"
        # --tp/--dp go first among the overrides, so that the one not given keeps its default (l3sim.spec.run)
        degrees = [f"parallel.{name}={value}" for name, value in (("tp", self.tp), ("dp", self.dp)) if value is not None]
        return build_run_spec([*degrees, *(self.overrides or [])], **fields)


def deployment_note(spec: RunSpec) -> str | None:
    """What a command says when it chose the TP/DP of a model that states none (l3sim.spec.run), else None."""
    if spec.model.parallel is None and spec.parallel is None:
        return f"note: {fitting_deployment(spec).note}"
    return None


#: The parameter names of the shared options, in ``--help`` order.
RUN_OPTION_NAMES = tuple(field.name for field in dataclasses.fields(RunOptions))

Command = TypeVar("Command", bound=Callable[..., Any])


def with_run_options(command: Command) -> Command:
    """``command`` with its one ``RunOptions`` parameter spread out into the options typer sees."""
    signature = inspect.signature(command, eval_str=True)
    [slot] = [param for param in signature.parameters.values() if param.annotation is RunOptions]
    hints = get_type_hints(RunOptions, include_extras=True)
    shared = [
        inspect.Parameter(field.name, inspect.Parameter.KEYWORD_ONLY, default=field.default, annotation=hints[field.name])
        for field in dataclasses.fields(RunOptions)
    ]
    own = list(signature.parameters.values())
    at = own.index(slot)
    params = [param.replace(kind=inspect.Parameter.KEYWORD_ONLY) for param in own[:at] + own[at + 1 :]]
    params[at:at] = shared

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        options = RunOptions(**{param.name: kwargs.pop(param.name) for param in shared})
        return command(**kwargs, **{slot.name: options})

    wrapper.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {param.name: param.annotation for param in params}
    wrapper.__annotations__["return"] = signature.return_annotation
    return wrapper  # type: ignore[return-value]
