"""Options renamed for consistency across commands, their old spelling still accepted with a warning.

A renamed option keeps its old spelling as a hidden option of the same command, so that scripts written
for the old name go on working while the warning tells their user the new name and why it changed.
"""

from __future__ import annotations

from typing import Any

import typer


def renamed_option(value: Any, old_value: Any, old: str, new: str, why: str) -> Any:
    """``value`` (the option ``new``), or ``old_value`` where the old spelling ``old`` was given, after a
    warning on stderr naming the new spelling and ``why`` it changed."""
    if not old_value:
        return value
    typer.echo(f"warning: '{old}' is now '{new}' ({why}); the old spelling still works for now", err=True)
    return old_value
