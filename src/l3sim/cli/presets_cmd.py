"""``l3sim presets [KIND]``: list the shipped presets; ``l3sim presets show NAME``: one preset's resolved values."""

from __future__ import annotations

import typer

from l3sim.cli.output import Output, with_output
from l3sim.errors import ConfigError
from l3sim.spec.presets import PRESET_KINDS, preset_names


def _system_names() -> list[str]:
    try:
        from l3sim.serving.systems import system_names
    except ImportError:
        return ["gpu-only"]
    return system_names()


def show(name: str, kind: str | None, output: Output) -> None:
    """Every resolved field of one preset with its description, and the file it comes from."""
    from l3sim.spec.preset_info import describe_preset

    if kind is not None and kind not in PRESET_KINDS:
        raise ConfigError(f"--kind {kind!r}: expected one of {', '.join(PRESET_KINDS)}")
    preset = describe_preset(name, kind)
    if output.machine:
        output.data(preset)
        return
    output.text(f"{preset['kind']} preset {preset['name']!r} from {preset['source']}")
    if preset["comment"]:
        output.text(preset["comment"])
    output.rows(f"{preset['name']}: resolved values", preset["fields"], ["field", "value", "description"])


@with_output
def presets(
    kind: str = typer.Argument(None, help=f"one of: {', '.join(PRESET_KINDS)}, systems; or 'show'"),
    name: str = typer.Argument(None, help="after 'show': the preset to print (name or TOML path)"),
    show_kind: str = typer.Option(None, "--kind", help="with show: the preset's kind, where the name is in "
                                  "several (or is a path)"),
    output: Output = Output(),
) -> None:
    """List preset names, by kind; `l3sim presets show NAME` prints one preset's resolved values and their
    descriptions."""
    if kind == "show":
        if name is None:
            raise ConfigError("l3sim presets show NAME: give the preset's name (l3sim presets lists them)")
        show(name, show_kind, output)
        return
    if name is not None or show_kind is not None:
        raise ConfigError(f"a second argument or --kind goes with 'l3sim presets show NAME', not with {kind!r}")
    kinds = list(PRESET_KINDS) + ["systems"]
    if kind is not None and kind not in kinds:
        raise ConfigError(f"unknown preset kind {kind!r}; known: {', '.join(kinds)}")
    chosen = [kind] if kind else kinds
    listing = {k: (_system_names() if k == "systems" else preset_names(k)) for k in chosen}
    if output.machine:
        output.data(listing)
    else:
        output.rows("presets", ({"kind": k, "names": ", ".join(v)} for k, v in listing.items()))


def register(app: typer.Typer) -> None:
    """Add ``l3sim presets``."""
    app.command("presets")(presets)
