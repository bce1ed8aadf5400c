"""Bank-PU and rank-PU arithmetic: rounded products, adder trees, sequential accumulators.

The paper states FP16 MACs and leaves the accumulator precision open
(L3 paper, section III); :class:`PUArithmetic` makes each rounding a knob. The rank PU
(logic process, buffer chip) is modelled in FP32.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from l3sim.errors import ConfigError
from l3sim.functional.numerics import UNIT_ROUNDOFF, round_fp16_as_fp32, round_to
from l3sim.spec.base import Spec

# Half the smallest subnormal spacing: the absolute error floor of one rounding
# near zero (IEEE 754: fp16 subnormal step 2^-24, bf16 2^-133, fp32 2^-149).
UNDERFLOW_ABS: dict[str, float] = {"fp16": 2.0**-25, "bf16": 2.0**-134, "fp32": 2.0**-150}


class PUArithmetic(Spec):
    """Number formats of the PIM data path."""

    operand_format: Literal["fp16", "bf16"] = Field(
        "fp16", description="KV elements in DRAM and vectors in the shared buffer (q, S): FP16 in the paper")
    product_format: Literal["fp16", "bf16", "fp32"] = Field(
        "fp16", description="rounding of each bank-PU product (fp32: exact for fp16/bf16 operands)")
    accumulator_format: Literal["fp32", "fp16"] = Field(
        "fp32", description="bank-PU accumulator; not stated in the paper, FP32 is the default")

    @property
    def name(self) -> str:
        return f"{self.operand_format} operands, {self.product_format} products, {self.accumulator_format} accumulation"


ARITHMETIC_OPTIONS: dict[str, PUArithmetic] = {
    "fp16-fp32acc": PUArithmetic(),
    "bf16-fp32acc": PUArithmetic(operand_format="bf16", product_format="bf16"),
    "fp16-fp16acc": PUArithmetic(accumulator_format="fp16"),
}
"""Named arithmetic options; ``fp16-fp32acc`` is the default."""


def arithmetic_option(name: str) -> PUArithmetic:
    """Look up a named arithmetic option; ConfigError lists the known names."""
    try:
        return ARITHMETIC_OPTIONS[name]
    except KeyError:
        raise ConfigError(f"unknown arithmetic {name!r}; expected one of {sorted(ARITHMETIC_OPTIONS)}") from None


def acc_dtype(fmt: str) -> type[np.floating]:
    """numpy dtype whose every addition rounds to ``fmt`` (numpy rounds each float16 op to binary16)."""
    return np.float16 if fmt == "fp16" else np.float32


def products(a: np.ndarray, b: np.ndarray, arith: PUArithmetic) -> np.ndarray:
    """Elementwise a*b rounded to the product format (the float32 product of two fp16/bf16 is exact)."""
    exact = np.multiply(a, b, dtype=np.float32)
    if arith.product_format == "fp16":
        rounded = round_fp16_as_fp32(exact)
    else:
        rounded = round_to(exact, arith.product_format)
    return rounded.astype(acc_dtype(arith.accumulator_format), copy=False)


def adder_tree(x: np.ndarray, fmt: str) -> np.ndarray:
    """Sum the last axis by a balanced binary tree, each addition rounded to ``fmt``.

    Zero padding to a power of two changes nothing (adding 0 is exact).
    """
    x = np.asarray(x, dtype=acc_dtype(fmt))
    n = x.shape[-1]
    width = 1 << max(0, (n - 1).bit_length())
    if width != n:
        x = np.concatenate([x, np.zeros((*x.shape[:-1], width - n), dtype=x.dtype)], axis=-1)
    while x.shape[-1] > 1:
        x = x[..., 0::2] + x[..., 1::2]
    return x[..., 0]


def sequential_sum(x: np.ndarray, axis: int, fmt: str) -> np.ndarray:
    """Sum along ``axis`` left to right, each partial sum rounded to ``fmt`` (an accumulator register)."""
    x = np.moveaxis(np.asarray(x, dtype=acc_dtype(fmt)), axis, 0)
    total = x[0].copy()
    for term in x[1:]:  # one step per accumulated term, vectorised over every register
        total += term
    return total


def unit_roundoff(fmt: str, exact: bool = False) -> float:
    """Relative error of one rounding to ``fmt``; 0 where the operation is exact."""
    return 0.0 if exact else UNIT_ROUNDOFF[fmt]
