"""Placeholder: this command group is being written; it registers nothing yet."""

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the application."""
