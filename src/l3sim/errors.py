"""One exception family for everything l3sim reports to a user.

The CLI catches :class:`L3SimError`, prints its message without a traceback and
exits with status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class L3SimError(Exception):
    """Base class of every error l3sim raises on purpose."""


class ConfigError(L3SimError):
    """A spec, preset, override or command-line value is invalid."""


class TraceFormatError(L3SimError):
    """A request trace file is malformed; the message names file, line and field."""


class CapacityError(L3SimError):
    """Something does not fit: a request in the KV cache, a model on its GPUs, a layout in DRAM."""


class OutputError(L3SimError):
    """A result file or folder cannot be written (checked before a run where possible; never left partial)."""


class NumericalError(L3SimError):
    """A run or a check produced a number that is not finite or lies outside its physical range."""


class MissingDependencyError(L3SimError):
    """An optional package (an extra) is needed for this feature and is not installed."""
