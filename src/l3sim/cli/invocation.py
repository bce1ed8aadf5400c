"""The command line of the running ``l3sim`` command, saved with its results.

The command line is rebuilt from what click parsed, not copied from ``sys.argv``: the options given on the
command line (or from the environment), in the order the command declares them, with their values as
typed. So it is the same whether l3sim runs as a program, as ``python -m l3sim`` or inside a test runner,
and running it again runs the same thing.
"""

from __future__ import annotations

import shlex
from typing import Any

import typer

#: Where a parameter's value came from (click's ParameterSource names) for it to count as given.
GIVEN = ("COMMANDLINE", "ENVIRONMENT")


def _words(param: Any, value: Any) -> list[str]:
    """The command-line words that give the click parameter ``param`` the parsed ``value``."""
    if param.param_type_name == "argument":
        values = value if isinstance(value, (list, tuple)) else [value]
        return [str(item) for item in values]
    if param.is_flag and not param.count:
        if param.secondary_opts and not value:
            return [param.secondary_opts[0]]
        return [param.opts[0]] if value else []
    if param.multiple:
        return [word for item in value for word in (param.opts[0], str(item))]
    return [param.opts[0], str(value)]


def given(ctx: typer.Context, name: str) -> bool:
    """Whether the command's parameter ``name`` was given (not left at its default)."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name in GIVEN


def command_line(ctx: typer.Context) -> str:
    """``l3sim <command> <the options given>`` of the command of ``ctx``, shell-quoted."""
    words = ["l3sim", *ctx.command_path.split()[1:]]
    for param in ctx.command.params:
        if param.name is not None and given(ctx, param.name):
            words.extend(_words(param, ctx.params[param.name]))
    return shlex.join(words)
