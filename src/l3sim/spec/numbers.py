"""The one place that says which numbers a spec accepts, beyond each field's own bounds.

Every field of every :class:`~l3sim.spec.base.Spec` passes through
:func:`check_plausible` (and pydantic rejects NaN and infinities, ``allow_inf_nan
= False``), so no value that the arithmetic downstream cannot survive gets in:

- a float's magnitude is 0 or within [:data:`MIN_MAGNITUDE`, :data:`MAX_MAGNITUDE`]
  (1e-30 .. 1e30: every physical quantity l3sim uses, in SI units, lies well
  inside; 1e300 or 1e-300 overflow or underflow in the first product);
- an integer's magnitude is at most :data:`MAX_INT` = 2**53, so it converts to a
  float exactly and fits numpy's int64 with room for sums;
- a few quantities that size arrays, loops or the KV capacity have a ceiling of
  their own (:data:`COUNT_LIMITS`, and :data:`PRODUCT_LIMITS` for products of
  fields such as the ranks of a host), so a typo such as
  ``memory.channels=1000000000`` is a clear error instead of an out-of-memory
  crash or a run of hours. The ceilings are far above any real system: 4 times
  the paper's host for the ranks (its l3 scheduler trains on batches up to the
  KV capacity, so run time grows with the host's size).

The same rules apply to command-line numbers and arrival rates
(:func:`check_float`), so an option cannot slip past what a spec field refuses.
"""

from __future__ import annotations

import math
from typing import Any

from l3sim.errors import ConfigError

MAX_MAGNITUDE = 1e30
MIN_MAGNITUDE = 1e-30
MAX_INT = 2**53
#: Most tokens of one request's prompt or output (trace or synthetic): 2**40, far beyond any context window
#: (such a request never fits and is reported so), small enough for int64 token arithmetic.
MAX_REQUEST_TOKENS = 2**40
#: Latest arrival time of a request, s (about 317 years): later times lose the precision that iteration
#: times (milliseconds) need, and the engine's clock could no longer advance.
MAX_ARRIVAL_S = 1e10

#: Ceilings of quantities that size arrays, loops or capacities: "SpecClass.field" -> (limit, what). Generous:
#: far above any real system, low enough that a run cannot exhaust memory or time by a typo.
COUNT_LIMITS: dict[str, tuple[float, str]] = {
    "RunSpec.requests": (10_000_000, "requests drawn for one run"),
    "ParallelSpec.tp": (1024, "GPUs per model replica"),
    "ParallelSpec.dp": (1024, "model replicas"),
    "ModelSpec.num_layers": (10_000, "decoder layers"),
    "HostMemorySpec.channels": (256, "DIMM channels of one host"),
    "HostMemorySpec.dimms_per_channel": (16, "DIMMs on one channel"),
    "HostMemorySpec.ranks_per_dimm": (16, "ranks of one DIMM"),
    "DRAMOrganisation.chip_density_gbit": (256, "Gb per DRAM chip"),
    "DRAMOrganisation.subchannels": (8, "sub-channels of a DIMM channel"),
    "DRAMOrganisation.chips_per_rank": (64, "chips of a rank"),
    "DRAMOrganisation.device_width_bits": (64, "DQ pins of a chip"),
    "DRAMOrganisation.bank_groups": (64, "bank groups of a chip"),
    "DRAMOrganisation.banks_per_group": (64, "banks of a bank group"),
    "DRAMOrganisation.burst_length": (64, "beats of a burst"),
}

#: Ceilings of products of fields of one spec: "SpecClass" -> (fields, limit, what).
PRODUCT_LIMITS: dict[str, tuple[tuple[str, ...], int, str]] = {
    "HostMemorySpec": (("channels", "dimms_per_channel", "ranks_per_dimm"), 256, "ranks of one host "
                       "(4 x the L3 paper's 64)"),
}


def _bad_number(value: Any) -> str | None:
    """Why ``value`` (a number) is refused, or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return f"integer {value} is beyond +-2**53" if abs(value) > MAX_INT else None
    if isinstance(value, float):
        if not math.isfinite(value):
            return f"{value!r} is not a finite number"
        size = abs(value)
        if size > MAX_MAGNITUDE or 0 < size < MIN_MAGNITUDE:
            return f"{value!r} is outside the magnitudes l3sim accepts (0 or {MIN_MAGNITUDE:g} .. {MAX_MAGNITUDE:g})"
    return None


def check_plausible(value: Any, owner: str = "", field: str = "") -> Any:
    """Return ``value`` unless a number in it (nested lists and dicts included) is refused: raise ValueError."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, (list, tuple)):
            stack.extend(node)
        else:
            reason = _bad_number(node)
            if reason:
                raise ValueError(reason)
    limit = COUNT_LIMITS.get(f"{owner}.{field}")
    if limit and isinstance(value, (int, float)) and value > limit[0]:
        raise ValueError(f"{value} {limit[1]} is more than l3sim accepts (at most {limit[0]:,})")
    return value


def check_products(owner: str, values: dict[str, Any]) -> None:
    """Raise ValueError if the fields of :data:`PRODUCT_LIMITS` of spec class ``owner`` multiply past the limit."""
    if owner not in PRODUCT_LIMITS:
        return
    fields, limit, what = PRODUCT_LIMITS[owner]
    product = math.prod(values[name] for name in fields)
    if product > limit:
        raise ValueError(f"{' x '.join(fields)} = {product:,} {what} is more than l3sim accepts (at most {limit:,})")


def check_float(text: str, what: str, low: float, high: float) -> float:
    """``text`` as a float in [low, high] (finite); else a ConfigError naming ``what`` and the range."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        value = math.nan
    if not (math.isfinite(value) and low <= value <= high):
        raise ConfigError(f"{what} must be a number from {low:g} to {high:g}, got {text!r}")
    return value
