"""Drive the real ``l3sim`` CLI in-process and judge what came back (the fuzz suite's oracle).

The console script ``l3sim.cli:main`` turns every :class:`~l3sim.errors.L3SimError`
into ``error: ...`` on stderr and exit status 2; click turns a usage error into
exit status 2. Typer's ``CliRunner`` calls the application below ``main``, so an
``L3SimError`` arrives here as ``result.exception``: :func:`invoke` applies
main's rule to it (:func:`l3sim.cli.error_line`), so that every outcome is one
of exit 0, exit 1 (a check that failed, where the command allows it) or exit 2
with an ``error:`` line (or click's usage error for an option of the wrong type or range). Anything else (a traceback, a hang) is a defect.
"""

from __future__ import annotations

import json
import math
import signal
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

from typer.testing import CliRunner

from l3sim.cli import app, error_line
from l3sim.errors import L3SimError

#: A case that runs longer than this counts as a hang (the issue's limit).
HANG_LIMIT_S = 60


@dataclass(frozen=True)
class Outcome:
    """What one CLI call ended with, as the console script would report it."""

    code: int
    stdout: str
    stderr: str


class CliDefect(AssertionError):
    """The CLI ended in a traceback, a hang, or an exit status outside its contract."""


@contextmanager
def _hang_guard(limit_s: int) -> Iterator[None]:
    """Raise CliDefect in this (main) thread when the block runs longer than ``limit_s`` seconds."""

    def expire(signum: int, frame: Any) -> None:
        raise CliDefect(f"hang: still running after {limit_s} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(limit_s)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def invoke(args: list[str], limit_s: int = HANG_LIMIT_S) -> Outcome:
    """Run ``l3sim ARGS`` in-process; an L3SimError becomes exit 2 and ``error: ...``; others are defects."""
    with _hang_guard(limit_s):
        result = CliRunner().invoke(app, [str(a) for a in args])
    exc = result.exception
    if exc is None or isinstance(exc, SystemExit):
        return Outcome(result.exit_code, result.stdout, result.stderr)
    if isinstance(exc, L3SimError):
        return Outcome(2, result.stdout, result.stderr + error_line(exc) + "\n")
    import traceback

    trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    raise CliDefect(f"l3sim {' '.join(map(str, args))}: traceback:\n{trace}")


def _reports_error(stderr: str) -> bool:
    """An ``error: ...`` line (l3sim) or click's usage error (``Usage:`` and an ``Error`` panel)."""
    return "error:" in stderr.lower() or ("Usage:" in stderr and "Error" in stderr)


def expect_clean(args: list[str], allowed: tuple[int, ...] = (0, 2)) -> Outcome:
    """Invoke and require an allowed exit status; exit 2 must come with one ``error:`` line, no traceback."""
    outcome = invoke(args)
    shown = f"l3sim {' '.join(map(str, args))}"
    if outcome.code not in allowed:
        raise CliDefect(f"{shown}: exit {outcome.code} (allowed {allowed})\n{outcome.stdout}\n{outcome.stderr}")
    if "Traceback" in outcome.stderr:
        raise CliDefect(f"{shown}: traceback on stderr\n{outcome.stderr}")
    if outcome.code == 2 and not _reports_error(outcome.stderr):
        raise CliDefect(f"{shown}: exit 2 without an error line\n{outcome.stderr}")
    return outcome


def expect_error(args: list[str], needle: str = "") -> Outcome:
    """Require a clean ``error:`` with exit 2 whose text contains ``needle``."""
    outcome = expect_clean(args, allowed=(2,))
    if needle.lower() not in outcome.stderr.lower():
        raise CliDefect(f"l3sim {' '.join(map(str, args))}: error does not mention {needle!r}:\n{outcome.stderr}")
    return outcome


def expect_sane_run(args: list[str]) -> Outcome:
    """``l3sim run ... --json``: a clean error, or a success whose every metric passes the oracle."""
    from metric_oracle import check_run_json

    outcome = expect_clean([*args, "--json"] if "--json" not in args else args)
    if outcome.code == 0:
        try:
            check_run_json(json.loads(outcome.stdout))
        except AssertionError as exc:
            raise CliDefect(f"l3sim {' '.join(map(str, args))}: silent wrong result: {exc}") from None
    return outcome


def no_non_finite(obj: Any) -> bool:
    """True if no float in the nested JSON value ``obj`` is NaN or infinite."""
    if isinstance(obj, float):
        return math.isfinite(obj)
    if isinstance(obj, dict):
        return all(no_non_finite(v) for v in obj.values())
    if isinstance(obj, list):
        return all(no_non_finite(v) for v in obj)
    return True
