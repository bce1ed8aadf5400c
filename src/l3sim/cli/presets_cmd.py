"""``l3sim presets [KIND]``: list the shipped presets."""

from __future__ import annotations

import typer

from l3sim.cli.output import print_json, print_rows
from l3sim.errors import ConfigError
from l3sim.spec.presets import PRESET_KINDS, preset_names


def _system_names() -> list[str]:
    try:
        from l3sim.serving.systems import system_names
    except ImportError:
        return ["gpu-only"]
    return system_names()


def presets(
    kind: str = typer.Argument(None, help=f"one of: {', '.join(PRESET_KINDS)}, systems"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """List preset names, by kind."""
    kinds = list(PRESET_KINDS) + ["systems"]
    if kind is not None and kind not in kinds:
        raise ConfigError(f"unknown preset kind {kind!r}; known: {', '.join(kinds)}")
    chosen = [kind] if kind else kinds
    listing = {k: (_system_names() if k == "systems" else preset_names(k)) for k in chosen}
    if as_json:
        print_json(listing)
    else:
        print_rows("presets", ({"kind": k, "names": ", ".join(v)} for k, v in listing.items()))


def register(app: typer.Typer) -> None:
    app.command("presets")(presets)
