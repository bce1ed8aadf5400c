"""How every command prints its results: one renderer for ``--format table|csv|json|markdown``.

A command takes an :class:`Output` parameter (``@with_output`` spreads it into ``--format``,
``--json`` and ``--wide``) and hands it either its machine-readable object or its tables:

    @with_output
    def command(..., out: Output = Output()) -> None:
        if out.machine:                # --format json | csv (--json is --format json)
            out.data(result)           # JSON as before; CSV: the same values, flattened
            return
        out.mapping(title, summary)    # --format table | markdown
        out.rows(title, rows, columns)

- ``table`` (the default) fits the console: the columns of :meth:`Output.rows` are given in order of
  importance, and the table keeps the longest leading run of them that fits the width without cutting
  a cell; a note names the rest, which ``--wide`` shows (lines may then be longer than the terminal).
  Key/value records (:meth:`Output.mapping`) wrap their values instead.
- ``markdown`` prints the same tables, every column, as GitHub pipe tables under a bold title.
- ``json`` prints the command's object (NaN and infinities as null).
- ``csv`` prints the same object as one CSV table (:func:`csv_records`): a list of records is one row
  each; an object is one row of its scalar fields (nested objects as dotted columns) and one row per
  record of each list of records, a ``section`` column saying which. Lists of plain values are cells
  holding JSON text. So ``pandas.read_csv`` reads it back with the JSON's values.

Progress bars (:func:`progress_enabled`) are drawn only for ``table`` output with a terminal on both
stdout and stderr, so ``--json``, ``--format csv`` and ``| tee`` stay quiet.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import inspect
import io
import json
import math
import sys
from typing import Any, Callable, Iterable, Mapping, Sequence, TypeVar

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from l3sim.dotted import flatten_dotted
from l3sim.errors import ConfigError
from l3sim.markdown import pipe_table

#: The values of ``--format``.
FORMATS = ("table", "csv", "json", "markdown")
#: The CSV column naming the part of the object a row comes from (see the module docstring).
SECTION = "section"
#: The scalar fields of an object, in CSV.
SUMMARY = "summary"


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return _jsonable(value.item())
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def print_json(obj: Any) -> None:
    """Print ``obj`` as JSON on stdout (NaN and infinities become null)."""
    print(json.dumps(_jsonable(obj), indent=2))


def _is_records(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) for v in value)


def _flatten(obj: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as dotted keys; lists as JSON text; null as an empty cell."""
    return flatten_dotted(obj, leaf=lambda name, value: json.dumps(value) if isinstance(value, list) else value,
                          prefix=prefix)


def csv_records(obj: Any) -> list[dict[str, Any]]:
    """The rows of ``obj``'s CSV form (module docstring), from its JSON form."""
    obj = _jsonable(obj)
    if _is_records(obj):
        return [_flatten(row) for row in obj]
    if not isinstance(obj, Mapping):
        raise TypeError(f"no CSV form for a {type(obj).__name__}")
    lists = {key: value for key, value in obj.items() if _is_records(value)}
    scalars = _flatten({key: value for key, value in obj.items() if key not in lists})
    if not lists:
        return [scalars]
    rows = [{SECTION: SUMMARY, **scalars}] if scalars else []
    rows += [{SECTION: key, **_flatten(row)} for key, records in lists.items() for row in records]
    return rows


def csv_text(obj: Any) -> str:
    """``obj`` as CSV text with a header: the union of the rows' columns, in order of first appearance."""
    rows = csv_records(obj)
    columns = list(dict.fromkeys(key for row in rows for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows({key: ("" if value is None else value) for key, value in row.items()} for row in rows)
    return buffer.getvalue()


def fmt_cell(value: Any) -> str:
    """A value as a table shows it: floats to 4 significant digits, mappings as ``key=value, ...``."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={fmt_cell(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(fmt_cell(v) for v in value)
    return str(value)


def _columns(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None) -> list[str]:
    return list(columns or (rows[0].keys() if rows else []))


def rows_markdown(title: str, rows: Iterable[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    """A bold title and a pipe table of ``rows`` (every column), cells as a table shows them."""
    rows = list(rows)
    columns = _columns(rows, columns)
    return f"**{title}**\n\n" + pipe_table(columns, ([fmt_cell(row.get(c)) for c in columns] for row in rows))


def _label(key: str) -> str:
    """A column header that may wrap: underscores become spaces."""
    return key.replace("_", " ")


def _longest_word(text: str) -> int:
    return max((len(word) for word in text.split()), default=0)


def _rich_table(header: Sequence[str], cells: Sequence[Sequence[str]], widths: Sequence[int | None]) -> Table:
    """A table whose column ``i`` is ``widths[i]`` wide (None: wraps, taking what is left)."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
    for name, width in zip(header, widths):
        table.add_column(Text(name), width=width, overflow="fold")
    for row in cells:
        table.add_row(*(Text(cell) for cell in row))
    return table


def _fixed_width(header: str, column: Sequence[str]) -> int | None:
    """The width of a column of single words (its longest cell, or its header's longest word); None for text."""
    if any(" " in text for text in column):
        return None
    return max([_longest_word(header), *(len(text) for text in column)])


#: A column of text may be this narrow even when a word is longer: that word is folded, never cut.
TEXT_MIN_WIDTH = 20


def _min_width(header: str, column: Sequence[str]) -> int:
    """How narrow a text column may get: its longest word, at most TEXT_MIN_WIDTH."""
    return min(TEXT_MIN_WIDTH, max([_longest_word(header), *(_longest_word(text) for text in column)]))


def _width(console: Console, table: Table) -> int:
    """The width ``table`` takes when nothing limits it."""
    return console.measure(table, options=console.options.update_width(10**6)).maximum


@dataclasses.dataclass
class Output:
    """Where a command's results go and in which form (module docstring); ``console`` for tests."""

    fmt: str = "table"
    wide: bool = False
    console: Console | None = None

    def __post_init__(self) -> None:
        if self.fmt not in FORMATS:
            raise ConfigError(f"--format {self.fmt!r}: expected one of {' | '.join(FORMATS)}")

    @property
    def machine(self) -> bool:
        """JSON or CSV: the command hands :meth:`data` its object instead of tables."""
        return self.fmt in ("json", "csv")

    @property
    def progress(self) -> bool:
        """Whether a progress bar may be drawn (:func:`progress_enabled`)."""
        return progress_enabled(self.fmt)

    def _console(self) -> Console:
        return self.console or Console()

    def data(self, obj: Any) -> None:
        """Print the command's object: JSON, or its CSV form."""
        if self.fmt == "csv":
            sys.stdout.write(csv_text(obj))
        else:
            print_json(obj)

    def text(self, line: str) -> None:
        """A line of prose (a summary), wrapped to the console in a table."""
        if self.fmt == "markdown":
            print(line + "\n")
        else:
            self._console().print(Text(line))

    def mapping(self, title: str, obj: Mapping[str, Any]) -> None:
        """A key/value record: two columns, field and value (values wrap)."""
        if self.fmt == "markdown":
            print(rows_markdown(title, [{"field": key, "value": value} for key, value in obj.items()]))
            return
        cells = [[str(key), fmt_cell(value)] for key, value in obj.items()]
        console = self._console()
        console.print(Text(title, style="bold"))
        console.print(_rich_table(["field", "value"], cells, [_fixed_width("field", [row[0] for row in cells]), None]))
        console.print()

    def rows(self, title: str, rows: Iterable[Mapping[str, Any]], columns: Sequence[str] | None = None) -> None:
        """One row per mapping; ``columns`` (default: the first row's keys) in order of importance."""
        rows = list(rows)
        if self.fmt == "markdown":
            print(rows_markdown(title, rows, columns))
            return
        columns = _columns(rows, columns)
        cells = [[fmt_cell(row.get(col)) for col in columns] for row in rows]
        console = self._console()
        console.print(Text(title, style="bold"))
        header = [_label(col) for col in columns]
        by_column = [[row[i] for row in cells] for i in range(len(columns))]
        widths = [_fixed_width(h, col) for h, col in zip(header, by_column)]
        if self.wide:
            table = _rich_table(header, cells, widths)
            narrow = console.width
            console.width = max(narrow, _width(console, table))
            try:
                console.print(table)
                console.print()
            finally:
                console.width = narrow
            return
        narrowest = [w if w is not None else _min_width(h, col) for w, h, col in zip(widths, header, by_column)]
        shown = len(columns)
        while shown > 1 and _width(console, _rich_table(header[:shown], [r[:shown] for r in cells],
                                                        narrowest[:shown])) > console.width:
            shown -= 1
        console.print(_rich_table(header[:shown], [r[:shown] for r in cells], widths[:shown]))
        if shown < len(columns):
            console.print(Text(f"{len(columns) - shown} more column(s) with --wide (or --format csv|markdown): "
                               + ", ".join(columns[shown:]), style="dim"))
        console.print()


def _stdout_is_tty() -> bool:
    return sys.stdout.isatty()


def progress_enabled(fmt: str = "table") -> bool:
    """Progress bars only for table output, with stdout and stderr both terminals (rich's test of stderr,
    which honours FORCE_COLOR and TTY_COMPATIBLE)."""
    return fmt == "table" and _stdout_is_tty() and Console(stderr=True).is_terminal


FORMAT_HELP = "output: table (fits the terminal) | csv | json | markdown"

Command = TypeVar("Command", bound=Callable[..., Any])


def with_output(command: Command) -> Command:
    """``command`` with its one :class:`Output` parameter spread out into ``--format``, ``--json`` and ``--wide``.

    ``--json`` stays as the short form of ``--format json``; giving both with different formats is an error.
    """
    signature = inspect.signature(command, eval_str=True)
    [slot] = [param for param in signature.parameters.values() if param.annotation is Output]
    added = [
        inspect.Parameter("output_format", inspect.Parameter.KEYWORD_ONLY, annotation=str,
                          default=typer.Option("table", "--format", help=FORMAT_HELP)),
        inspect.Parameter("output_json", inspect.Parameter.KEYWORD_ONLY, annotation=bool,
                          default=typer.Option(False, "--json", help="same as --format json")),
        inspect.Parameter("output_wide", inspect.Parameter.KEYWORD_ONLY, annotation=bool,
                          default=typer.Option(False, "--wide", help="every column, however wide (--format table)")),
    ]
    own = [param.replace(kind=inspect.Parameter.KEYWORD_ONLY) for param in signature.parameters.values()]
    at = list(signature.parameters).index(slot.name)
    params = own[:at] + added + own[at + 1:]

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        fmt, as_json, wide = (kwargs.pop(param.name) for param in added)
        if as_json and fmt not in ("table", "json"):
            raise ConfigError(f"--json and --format {fmt} disagree; give one")
        return command(**kwargs, **{slot.name: Output("json" if as_json else fmt, wide)})

    wrapper.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {param.name: param.annotation for param in params}
    wrapper.__annotations__["return"] = signature.return_annotation
    return wrapper  # type: ignore[return-value]

