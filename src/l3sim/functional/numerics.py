"""Number formats of the data path: element sizes, rounding to FP16/BF16/FP32, unit roundoffs.

numpy has no BF16 type, so BF16 values are carried in float32 arrays whose low
16 bits are zero (round-to-nearest-even on the way in). FP16 uses numpy's IEEE
binary16, FP32 numpy's float32; both round to nearest even, as IEEE 754 requires.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from l3sim.errors import ConfigError

ElementFormat = Literal["fp16", "bf16", "fp32"]
"""Element formats a KV cache or a PU operand can use."""

ELEMENT_BYTES: dict[str, int] = {"fp16": 2, "bf16": 2, "fp32": 4}

# Unit roundoff u = 2^-p for a format with p significand bits (IEEE 754:
# binary16 p=11, bfloat16 p=8, binary32 p=24); one rounding has relative error <= u.
UNIT_ROUNDOFF: dict[str, float] = {"fp16": 2.0**-11, "bf16": 2.0**-8, "fp32": 2.0**-24}


def check_format(fmt: str) -> str:
    """Return ``fmt`` if it is a known element format, else raise ConfigError."""
    if fmt not in ELEMENT_BYTES:
        raise ConfigError(f"unknown element format {fmt!r}; expected one of {sorted(ELEMENT_BYTES)}")
    return fmt


def round_to(x: np.ndarray, fmt: str) -> np.ndarray:
    """Round ``x`` to ``fmt`` (nearest even); the result is float32 (float16 for fp16)."""
    check_format(fmt)
    if fmt == "fp16":
        return np.asarray(x).astype(np.float16)
    x32 = np.asarray(x, dtype=np.float32)
    if fmt == "fp32":
        return x32
    bits = x32.view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    return rounded.astype(np.uint32).view(np.float32)


def round_fp16_as_fp32(x: np.ndarray) -> np.ndarray:
    """Round float32 ``x`` to the nearest binary16 value (ties to even, subnormals, overflow to inf), kept in float32.

    Bit-identical to ``x.astype(float16).astype(float32)`` but several times faster:
    adding and subtracting ``2^(e+13)`` (``e`` the exponent of x, at least -14)
    makes float32's own round-to-nearest-even drop every bit below binary16's ulp 2^(e-10).
    ``e`` is also capped at binary16's largest exponent, 15: any larger magnitude overflows to inf
    anyway, and an uncapped shift 2^(e+13) would itself overflow float32 (inf - inf: NaN at 2^115).
    """
    x = np.asarray(x, dtype=np.float32)
    mag = np.abs(x)
    exponent_bits = np.clip(mag.view(np.int32) & 0x7F800000, (127 - 14) << 23, (127 + 15) << 23)
    shift = (exponent_bits + (13 << 23)).view(np.float32)
    rounded = (mag + shift) - shift
    rounded = np.where(rounded >= np.float32(65520.0), np.float32(np.inf), rounded)
    rounded = np.where(np.isfinite(mag), rounded, mag)
    return np.copysign(rounded, x)


def to_bytes(x: np.ndarray, fmt: str) -> np.ndarray:
    """Little-endian bytes of ``x`` stored as ``fmt``: shape (..., n * element bytes), uint8."""
    values = round_to(x, fmt)
    if fmt == "bf16":
        values = (values.view(np.uint32) >> 16).astype("<u2")
    elif fmt == "fp16":
        values = values.astype("<f2")
    else:
        values = values.astype("<f4")
    values = np.ascontiguousarray(values)
    return values.view(np.uint8).reshape(*values.shape[:-1], -1)


def from_bytes(raw: np.ndarray, fmt: str) -> np.ndarray:
    """Inverse of :func:`to_bytes`: (..., n * element bytes) uint8 -> (..., n) values."""
    check_format(fmt)
    raw = np.ascontiguousarray(raw, dtype=np.uint8)
    if fmt == "fp16":
        return raw.view("<f2")
    if fmt == "fp32":
        return raw.view("<f4")
    return (raw.view("<u2").astype(np.uint32) << 16).view(np.float32)
