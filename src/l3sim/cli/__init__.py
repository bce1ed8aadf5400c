"""The ``l3sim`` command line: a thin Typer layer over the API.

Each command group lives in its own module and adds itself to :data:`app`
through a ``register(app)`` function, so that a new command never edits
another's module. Every :class:`~l3sim.errors.L3SimError` is printed without
a traceback and ends the process with status 2.
"""

from __future__ import annotations

import sys
import warnings

import typer

from l3sim.cache import CacheWarning
from l3sim.errors import L3SimError
from l3sim.fast_exit import freeze_heap_at_exit
from l3sim.spec.base import SpecWarning

app = typer.Typer(
    name="l3sim",
    help="Simulate GPU + DIMM-PIM long-context LLM inference (the L3 system) and its baselines.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_COMMAND_MODULES = (
    "presets_cmd",
    "run_cmd",
    "hw_cmd",
    "verify_cmd",
    "validate_cmd",
    "study_cmd",
    "sweep_cmd",
    "reproduce_cmd",
    "demo_cmd",
    "compare_cmd",
    "capacity_cmd",
    "roofline_cmd",
    "gpu_cmd",
    "dram_cmd",
)


def _register_all() -> None:
    import importlib

    for name in _COMMAND_MODULES:
        module = importlib.import_module(f"l3sim.cli.{name}")
        module.register(app)


_register_all()


@app.callback()
def _root() -> None:
    """Simulate GPU + DIMM-PIM long-context LLM inference (the L3 system) and its baselines."""


def error_line(exc: L3SimError) -> str:
    """How the CLI reports an l3sim error: one ``error: ...`` line (more lines when the message has them)."""
    return f"error: {exc}"


_format_warning = warnings.formatwarning


def warning_line(message, category, filename, lineno, line=None) -> str:
    """How the CLI shows a warning: l3sim's own (a spec read with a change, a cache problem) as one
    ``warning: ...`` line; any other as Python does."""
    if issubclass(category, (SpecWarning, CacheWarning)):
        return f"warning: {message}\n"
    return _format_warning(message, category, filename, lineno, line)


def main() -> None:
    """Console-script entry point: usage errors exit 2 (click's rule), and so do L3SimErrors.

    The heap is frozen at the process's exit (``l3sim.fast_exit``): 0.1-0.4 s of a 2-3 s ``l3sim run``.
    """
    freeze_heap_at_exit()
    warnings.formatwarning = warning_line
    try:
        app()
    except L3SimError as exc:
        typer.echo(error_line(exc), err=True)
        sys.exit(2)
