"""Where a result came from, saved with it, and how a run is read back from it (``l3sim run --spec FILE``).

Every result l3sim writes (``result.json`` of ``run --out``, ``results.json`` of ``demo`` and
``compare --out``, each point of a sweep's store) carries a provenance record::

    {"l3sim_version": "0.1.0",
     "command_line": "l3sim run --model llama-2-7b --set gpu=h200 --seed 3 --out out",
     "overrides": ["gpu=h200"],          # the --set overrides as given (already applied to "spec")
     "seed": 3,
     "spec": {...}}                      # the fully resolved RunSpec: every preset expanded into its values

``spec`` holds every value the run used (model, platform, GPU, link, memory, PIM, workload, the GPU cost
model, serving limits, the assumption profile's settings already applied), so reading it back gives the
same RunSpec, and the same spec gives the same metrics bit for bit (one seeded random generator).

:func:`load_spec_file` reads three kinds of file (docs/reproducibility.md):

- a result file (``result.json``, or one entry of ``results.json``): its ``provenance.spec``, used as is;
- a provenance record alone (an object with ``spec`` and ``l3sim_version``): its ``spec``;
- a spec written by hand, TOML or JSON: RunSpec fields with preset names allowed (``platform``, ``model``,
  ``workload``, ``system``, ``requests``, ``seed``, ``assumptions``, tables such as ``[serving]``) and an
  optional ``set = ["dotted.key=value", ...]``, built like the command line builds one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from l3sim import __version__
from l3sim.errors import ConfigError
from l3sim.spec.run import RunSpec, build_run_spec

PROVENANCE_KEY = "provenance"
SPEC_KEY = "spec"
VERSION_KEY = "l3sim_version"
SET_KEY = "set"


def provenance(spec: RunSpec | Mapping[str, Any], overrides: Sequence[str] = (), command_line: str = "") -> dict[str, Any]:
    """The provenance record of a run of ``spec`` (a RunSpec or its JSON dump; module docstring), JSON-ready."""
    data = spec.model_dump(mode="json") if isinstance(spec, RunSpec) else dict(spec)
    return {
        VERSION_KEY: __version__,
        "command_line": command_line,
        "overrides": list(overrides),
        "seed": data["seed"],
        SPEC_KEY: data,
    }


@dataclass(frozen=True)
class SpecFile:
    """A RunSpec read from a file, and what a user should know about it (another l3sim version wrote it)."""

    spec: RunSpec
    notes: list[str] = field(default_factory=list)


def load_spec_file(path: Path | str) -> SpecFile:
    """The RunSpec of a result file, a provenance record or a hand-written spec file (module docstring).

    Every failure names the file and, for a bad field, the field and what it expects.
    """
    from l3sim import inputs

    path = Path(path)
    if path.suffix == ".toml":
        data: Any = inputs.load_toml(path)
    elif path.suffix == ".json":
        data = inputs.load_json(path, "spec file")
    else:
        raise ConfigError(f"spec file {path}: expected a .json (a result.json or a spec) or a .toml file")
    if not isinstance(data, dict):
        raise ConfigError(f"spec file {path}: expected a JSON object or TOML table, got {type(data).__name__}")
    if PROVENANCE_KEY in data:
        record, where = data[PROVENANCE_KEY], f"{path}: {PROVENANCE_KEY}"
        if not isinstance(record, dict):
            raise ConfigError(f"spec file {path}: '{PROVENANCE_KEY}' must be an object, got {record!r}")
    elif SPEC_KEY in data and VERSION_KEY in data:
        record, where = data, str(path)
    else:
        return SpecFile(_hand_written(data, path))
    if not isinstance(record.get(SPEC_KEY), dict):
        raise ConfigError(f"spec file {where}: '{SPEC_KEY}' must be an object holding the resolved run spec")
    spec = RunSpec.parse(record[SPEC_KEY], source=f"spec in {where}.{SPEC_KEY}")
    written_by = record.get(VERSION_KEY)
    notes = []
    if written_by != __version__:
        notes.append(f"{path} was written by l3sim {written_by}, this is {__version__}: metrics may differ")
    return SpecFile(spec, notes)


def _hand_written(data: dict[str, Any], path: Path) -> RunSpec:
    """A spec file written by hand: RunSpec fields (preset names allowed) and an optional ``set`` list."""
    fields = dict(data)
    if "overrides" in fields:  # build_run_spec's own parameter: never let a file's key bind to it
        raise ConfigError(f"spec file {path}: unknown field 'overrides'; the overrides of a spec file are "
                          f"'{SET_KEY} = [\"dotted.key=value\", ...]'")
    overrides = fields.pop(SET_KEY, [])
    if not isinstance(overrides, list) or not all(isinstance(item, str) for item in overrides):
        raise ConfigError(f"spec file {path}: '{SET_KEY}' must be a list of \"dotted.key=value\" strings, "
                          f"got {overrides!r}")
    try:
        return build_run_spec(overrides, **fields)
    except ConfigError as exc:
        raise ConfigError(f"spec file {path}: {exc}") from None
