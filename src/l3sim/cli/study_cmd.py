"""``l3sim study``: removed; ``l3sim reproduce hw-ablation`` runs what ``l3sim study hw-ablation`` ran.

The group held one study, the paper's hardware ablation, which ``reproduce`` also ran (same rows, same
figure), so there were two commands for one thing. The name stays, hidden, to tell a user of the old
spelling where it went instead of Typer's bare "No such command".
"""

from __future__ import annotations

import typer

from l3sim.errors import ConfigError

REPLACEMENT = "l3sim reproduce hw-ablation --out DIR"


def study(ctx: typer.Context) -> None:
    """Removed: use ``l3sim reproduce hw-ablation``."""
    raise ConfigError(
        f"'l3sim study' was removed: `{REPLACEMENT}` runs the hardware ablation (report.md, report.html, "
        "hw-ablation.csv and hw-ablation.png in DIR); see docs/studies.md"
    )


def register(app: typer.Typer) -> None:
    """Add the hidden ``study`` command that points to ``reproduce``."""
    app.command("study", hidden=True,
                context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(study)
