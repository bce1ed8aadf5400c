"""Sweep files: a user grid over any RunSpec fields, expanded into fully validated points.

A sweep file is TOML (see docs/sweeps.md for the full format and examples)::

    [base]                      # RunSpec fields shared by every point, preset names allowed
    platform = "dgx-a100"
    model = "gpt-175b"
    set = ["gpu.compute_util=0.8"]   # dotted overrides applied to every point

    [grid]                      # the cross product of these axes
    seed = [0, 1]
    "serving.max_batch_tokens" = {start = 4096, stop = 16384, step = 4096}   # stop is inclusive

    [[zip]]                     # keys varied together (equal-length lists), crossed with the grid
    model = ["gpt-175b", "llama-2-70b"]
    "parallel.tp" = [8, 4]

    [output]
    metrics = ["throughput_tok_s"]
    plots = [{x = "serving.max_batch_tokens", y = "throughput_tok_s", hue = "seed"}]

Every point is built with :func:`l3sim.spec.run.build_run_spec` before anything
runs, so an unknown key or a value of the wrong type is reported (naming the
key) by the RunSpec's own validation: the sweep never holds a list of known keys
that could fall behind the spec.

How a point's spec is built (later wins; a key may not appear both in [base]
and in the grid, which would make the precedence matter):
``[base]`` fields < grid keys without a dot (whole fields: ``model``,
``workload``, ``seed``, ...) < ``[base].set`` < grid keys with dots.
The short keys of ``--set`` (``tp``, ``gpu``, ...; :data:`l3sim.spec.run.SET_ALIASES`)
work in the grid as in ``[base].set``, and count as the dotted keys they stand for.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from pydantic import Field

from l3sim.dotted import flatten_dotted
from l3sim.errors import ConfigError
from l3sim.experiments.store import canonical_json, spec_hash
from l3sim.spec.base import Spec
from l3sim.spec.numbers import MAX_MAGNITUDE
from l3sim.spec.presets import load_toml, parse_override
from l3sim.spec.run import build_run_spec, expand_alias

#: Significant digits kept for float range values, so that 0.1-steps give 0.3 and not 0.30000000000000004.
RANGE_FLOAT_DIGITS = 12
#: Most points one sweep may have (and so most values one range may give): a grid is validated point by
#: point before anything runs, so a typo such as ``step = 1e-12`` must fail at once, not exhaust memory.
MAX_GRID_POINTS = 100_000
_RANGE_KEYS = {"start", "stop", "step"}


class PlotSpec(Spec):
    """One plot of the results: ``y`` against ``x``, one line per value of ``hue``."""

    x: str = Field(description="a grid key")
    y: str = Field(description="a metric")
    hue: str | None = Field(None, description="a grid key; one line per value")


class OutputSpec(Spec):
    """What to keep and draw."""

    metrics: list[str] = Field(default_factory=list, description="metric columns to keep (empty: all)")
    plots: list[PlotSpec] = Field(default_factory=list)


class SweepFileSpec(Spec):
    """The top level of a sweep file: the tables it may have (anything else is an error)."""

    base: dict[str, Any] = Field(default_factory=dict)
    grid: dict[str, Any] = Field(default_factory=dict)
    zip: list[dict[str, Any]] = Field(default_factory=list)
    output: OutputSpec = Field(default_factory=OutputSpec)


@dataclass(frozen=True)
class Axis:
    """One dimension of the grid: its keys (several for a zip group) and one tuple of values per step."""

    keys: tuple[str, ...]
    steps: tuple[tuple[Any, ...], ...]


@dataclass(frozen=True)
class Point:
    """One run of a sweep: the grid values that define it, its fully resolved spec and the spec's key."""

    params: dict[str, Any]
    spec: dict[str, Any]
    key: str
    overrides: tuple[str, ...] = ()  # the dotted overrides as given: ``[base].set``, then the dotted grid keys


def _toml_string(text: str) -> str:
    """A TOML basic string: backslash, quote and control characters (which TOML forbids raw) escaped."""
    escaped = (
        f"\\u{ord(c):04x}" if (ord(c) < 0x20 or ord(c) == 0x7F) else ("\\" + c if c in '"\\' else c) for c in text
    )
    return '"' + "".join(escaped) + '"'


def toml_literal(value: Any) -> str:
    """``value`` written as a TOML value, so that a grid value can travel as a ``dotted.key=value`` override."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_string(str(k))} = {toml_literal(v)}" for k, v in value.items()) + "}"
    raise ConfigError(f"cannot use a {type(value).__name__} value in a sweep: {value!r}")


def _range_values(key: str, spec: Mapping[str, Any]) -> list[Any]:
    """The values of a ``{start, stop, step}`` range, ``stop`` included when the steps land on it."""
    unknown = set(spec) - _RANGE_KEYS
    if unknown or not {"start", "stop"} <= set(spec):
        raise ConfigError(f"grid key {key!r}: a range needs start and stop (and optionally step), got {sorted(spec)}")
    start, stop, step = spec["start"], spec["stop"], spec.get("step", 1)
    for name, number in (("start", start), ("stop", stop), ("step", step)):
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            raise ConfigError(f"grid key {key!r}: range {name} must be a number, got {number!r}")
        if not math.isfinite(number) or abs(number) > MAX_MAGNITUDE:
            raise ConfigError(f"grid key {key!r}: range {name} must be a finite number, got {number!r}")
    if step <= 0:
        raise ConfigError(f"grid key {key!r}: range step must be positive, got {step!r}")
    if stop < start:
        raise ConfigError(f"grid key {key!r}: range stop {stop!r} is below start {start!r}")
    span = (stop - start) / step
    if not span < MAX_GRID_POINTS:
        raise ConfigError(f"grid key {key!r}: range {start!r}..{stop!r} by {step!r} has more than "
                          f"{MAX_GRID_POINTS:,} values (a sweep has at most {MAX_GRID_POINTS:,} points)")
    count = math.floor(span + 1e-9) + 1
    if all(isinstance(n, int) for n in (start, stop, step)):
        return [start + i * step for i in range(count)]
    return [float(f"{start + i * step:.{RANGE_FLOAT_DIGITS}g}") for i in range(count)]


def _axis_values(key: str, value: Any) -> list[Any]:
    if isinstance(value, list):
        if not value:
            raise ConfigError(f"grid key {key!r}: the list of values is empty")
        return value
    if isinstance(value, dict) and "start" in value:
        return _range_values(key, value)
    raise ConfigError(f"grid key {key!r}: expected a list of values or a {{start, stop, step}} range, got {value!r}")


def _flatten_keys(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted keys written bare in TOML arrive as nested tables; turn them back into dotted names (a table with
    ``start`` is a range, a value of its own)."""
    return flatten_dotted(table, nested=lambda value: isinstance(value, dict) and "start" not in value, prefix=prefix)


def _target(key: str, value: Any) -> str:
    """The RunSpec path a grid ``key`` set to ``value`` stands for: a short ``--set`` key written out
    (``tp`` -> ``parallel.tp``), as ``[base].set`` and ``--set`` do (:func:`l3sim.spec.run.expand_alias`)."""
    return _set_target(f"{key}={toml_literal(value)}")


def _set_target(text: str) -> str:
    """The dotted path a ``key=value`` override sets, a short key written out."""
    return ".".join(parse_override(expand_alias(text))[0])


def _axes(grid: Mapping[str, Any], zips: list[dict[str, Any]]) -> list[Axis]:
    axes = [Axis((key,), tuple((v,) for v in _axis_values(key, value))) for key, value in _flatten_keys(grid).items()]
    for number, group in enumerate(zips, start=1):
        columns = {key: _axis_values(key, value) for key, value in _flatten_keys(group).items()}
        if not columns:
            raise ConfigError(f"zip group {number} is empty")
        lengths = {key: len(values) for key, values in columns.items()}
        if len(set(lengths.values())) > 1:
            raise ConfigError(f"zip group {number}: its lists must have equal lengths, got {lengths}")
        axes.append(Axis(tuple(columns), tuple(zip(*columns.values()))))
    keys = [key for axis in axes for key in axis.keys]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise ConfigError(f"grid key(s) {', '.join(map(repr, repeated))} appear more than once in [grid] and [[zip]]")
    if not axes:
        raise ConfigError("the grid is empty: give [grid] (or [[zip]]) at least one key with a list of values")
    size = math.prod(len(axis.steps) for axis in axes)
    if size > MAX_GRID_POINTS:
        shape = " x ".join(str(len(axis.steps)) for axis in axes)
        raise ConfigError(f"the grid has {size:,} points ({shape}); a sweep has at most {MAX_GRID_POINTS:,}: "
                          "split it into several sweeps (they can share one --out)")
    return axes


def param_value(value: Any) -> Any:
    """A grid value as a table cell: scalars as they are, tables and lists as canonical JSON."""
    return canonical_json(value) if isinstance(value, (dict, list)) else value


@dataclass(frozen=True)
class Sweep:
    """A parsed sweep file: base fields and overrides, the grid axes, and the output wishes."""

    source: str
    base_fields: dict[str, Any]
    base_set: tuple[str, ...]
    axes: tuple[Axis, ...]
    output: OutputSpec

    @property
    def keys(self) -> list[str]:
        """The grid keys, in file order: the parameter columns of the results."""
        return [key for axis in self.axes for key in axis.keys]

    @property
    def size(self) -> int:
        """Number of points (the product of the axis lengths)."""
        return math.prod(len(axis.steps) for axis in self.axes)

    def points(self, run_fn_name: str, on_point: Callable[[], None] | None = None) -> list[Point]:
        """Every point, in grid order (the last axis varies fastest), each validated as a RunSpec;
        ``on_point()`` is called after each (a progress bar for large grids)."""
        result = []
        for combo in itertools.product(*(axis.steps for axis in self.axes)):
            params = {key: value for axis, step in zip(self.axes, combo) for key, value in zip(axis.keys, step)}
            fields = dict(self.base_fields)
            overrides = list(self.base_set)
            for key, value in params.items():
                if "." in _target(key, value):  # dotted, or a short --set key that stands for a dotted one
                    overrides.append(f"{key}={toml_literal(value)}")
                else:
                    fields[key] = value
            try:
                spec = build_run_spec(overrides, **fields).model_dump(mode="json")
            except ConfigError as exc:
                shown = ", ".join(f"{k}={param_value(v)}" for k, v in params.items())
                raise ConfigError(f"{self.source}: point ({shown}): {exc}") from None
            result.append(Point({k: param_value(v) for k, v in params.items()}, spec, spec_hash(spec, run_fn_name),
                                tuple(overrides)))
            if on_point is not None:
                on_point()
        return result


def _check_output(output: OutputSpec, keys: list[str], source: str) -> None:
    for number, plot in enumerate(output.plots, start=1):
        for role, column in (("x", plot.x), ("hue", plot.hue)):
            if column is not None and column not in keys:
                raise ConfigError(f"{source}: output.plots[{number}].{role} = {column!r} is not a grid key ({keys})")
        if output.metrics and plot.y not in output.metrics:
            raise ConfigError(f"{source}: output.plots[{number}].y = {plot.y!r} is not in output.metrics")


def parse_sweep(data: Mapping[str, Any], source: str = "sweep file") -> Sweep:
    """Validate the tables of a sweep file (not yet the points: see :meth:`Sweep.points`)."""
    top = SweepFileSpec.parse(data, source=source)
    base = dict(top.base)
    base_set = base.pop("set", [])
    if not isinstance(base_set, list) or not all(isinstance(s, str) for s in base_set):
        raise ConfigError(f"{source}: base.set must be a list of 'dotted.key=value' strings, got {base_set!r}")
    try:
        axes = _axes(top.grid, top.zip)
        # what each grid key sets (its first value decides for gpu, which names a GPU or the cost model's table)
        targets = {key: _target(key, values[0]) for axis in axes for key, values in zip(axis.keys, zip(*axis.steps))}
        fixed = set(base) | {_set_target(text) for text in base_set}
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    keys = [key for axis in axes for key in axis.keys]
    clash = sorted(key for key, target in targets.items() if target in fixed)
    if clash:
        raise ConfigError(f"{source}: key(s) {', '.join(map(repr, clash))} are set in [base] and varied in the grid")
    same = sorted(key for key, target in targets.items() if list(targets.values()).count(target) > 1)
    if same:
        raise ConfigError(f"{source}: grid keys {', '.join(map(repr, same))} set the same field")
    _check_output(top.output, keys, source)
    return Sweep(source, base, tuple(base_set), tuple(axes), top.output)


def load_sweep(path: Path | str) -> Sweep:
    """Read and validate the sweep file at ``path`` (TOML, read with tomllib; nothing is evaluated)."""
    path = Path(path)
    return parse_sweep(load_toml(path), source=str(path))
