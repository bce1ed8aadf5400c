"""The one place l3sim reads user files: every way a read can fail becomes an l3sim error naming the file.

Presets, model files (TOML, Hugging Face ``config.json``), sweep files, traces
and ``--run`` result files all come through here, so the failure classes are
handled once: not found, a directory given as a file, unreadable, a symlink
loop, a name too long (any ``OSError``), bytes that are not UTF-8 (the message
names the line), syntax errors, nesting deeper than :data:`MAX_NESTING` (Python's
parsers would raise ``RecursionError``, and deeply nested values would recurse
again in validation) and integer literals longer than Python converts (4,300
digits). Numbers that parse but make no sense are :mod:`l3sim.spec.numbers`'
job.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from l3sim.errors import ConfigError, L3SimError

#: Deepest nesting of tables/arrays accepted in a TOML or JSON input (real inputs use fewer than 6 levels).
MAX_NESTING = 64


def read_bytes(path: str | Path, what: str = "file", error: type[L3SimError] = ConfigError) -> bytes:
    """The bytes of the regular file at ``path``; anything else is ``error`` naming ``what`` and the path."""
    path = Path(path)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise error(f"{what} not found: {path}") from None
    except IsADirectoryError:
        raise error(f"{what} {path}: is a directory, expected a file") from None
    except OSError as exc:  # permission, symlink loop, name too long, I/O error ...
        raise error(f"{what} {path}: cannot read: {exc.strerror or exc}") from None


def decode_utf8(data: bytes, source: str, error: type[L3SimError] = ConfigError) -> str:
    """UTF-8 text (a leading byte-order mark dropped); a bad byte names its line."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise error(f"{source}:{line}: not UTF-8 text (byte {data[exc.start]:#04x})") from None


def read_text(path: str | Path, what: str = "file", error: type[L3SimError] = ConfigError) -> str:
    """:func:`read_bytes` then :func:`decode_utf8`."""
    return decode_utf8(read_bytes(path, what, error), str(path), error)


def check_nesting(value: Any, source: str, error: type[L3SimError] = ConfigError) -> Any:
    """Return ``value`` unless its lists/dicts nest deeper than :data:`MAX_NESTING` (checked without recursion)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        for child in children:
            if isinstance(child, (dict, list)):
                if depth + 1 > MAX_NESTING:
                    raise error(f"{source}: nested more than {MAX_NESTING} levels deep")
                stack.append((child, depth + 1))
    return value


def parse_json(text: str, source: str, error: type[L3SimError] = ConfigError) -> Any:
    """One JSON value; syntax errors, over-deep nesting and over-long integers are ``error``."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"{source}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
    except RecursionError:
        raise error(f"{source}: invalid JSON: nested more than {MAX_NESTING} levels deep") from None
    except ValueError as exc:  # an integer literal beyond Python's digit limit
        raise error(f"{source}: invalid JSON: {exc}") from None
    return check_nesting(value, source, error)


def parse_toml(text: str, source: str, error: type[L3SimError] = ConfigError) -> dict[str, Any]:
    """One TOML document; syntax errors, over-deep nesting and over-long integers are ``error``."""
    try:
        value = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{source}: invalid TOML: {exc}") from None
    except RecursionError:
        raise error(f"{source}: invalid TOML: nested more than {MAX_NESTING} levels deep") from None
    except ValueError as exc:
        raise error(f"{source}: invalid TOML: {exc}") from None
    return check_nesting(value, source, error)


def load_toml(path: str | Path, what: str = "file") -> dict[str, Any]:
    """Read and parse the TOML file at ``path``."""
    return parse_toml(read_text(path, what), str(path))


def load_json(path: str | Path, what: str = "file") -> Any:
    """Read and parse the JSON file at ``path``."""
    return parse_json(read_text(path, what), str(path))
