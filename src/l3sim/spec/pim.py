"""PIMSpec: the DIMM-PIM units L3 adds to a DDR DIMM, how a KV head maps onto them, and the feature switches.

Every knob the L3 paper (arXiv 2504.17584, sections III-V) leaves open is a
field here with its default and the reason for it. The DRAM itself (timing,
organisation, how many channels and ranks) is the DRAM area's
``HostMemorySpec``; this spec only describes what sits next to the banks and on
the buffer chip.

Variants of the attention kernel (see ``l3sim.hw.pim.programs``):

- ``l3``: bank PUs, in-flight re-layout, bubble-free pipelining;
- ``no-pipeline``: bank PUs, in-flight re-layout, phases run one after another;
- ``cpu-relayout``: bank PUs, no pipelining, layout converted by the host CPU
  (the paper's ablation base);
- ``rank-pim``: one PU per rank on the buffer chip (R-PIM).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from l3sim.errors import ConfigError
from l3sim.spec.base import Spec

PRECISION_BYTES = {"fp32": 4, "fp16": 2, "bf16": 2}


class BankPUSpec(Spec):
    """The PU next to each bank: an FP16 MAC datapath with adder-tree and accumulator modes."""

    macs_per_element: int | Literal["auto"] = Field(
        "auto",
        description=(
            "N_cmr, MACs per KV element read. 'auto': the model's GQA group (1 for MHA, n for GQA-n), "
            "as the paper sizes it (section III). One PIM_MAC reads one column of every bank per tCCD_L "
            "(the DRAM engine's rule), so the MAC rate is tied to tCCD_L."
        ),
    )
    accumulator_precision: Literal["fp32", "fp16", "bf16"] = Field(
        "fp32",
        description=(
            "precision of the accumulators and hence of the partial scores and partial outputs the rank "
            "PU reads. Not stated in the paper; FP32 is the usual choice and is the factor of 2 that "
            "turns the plain bubble-free bound (16 and 2) into the paper's N_hc of 8 and 1."
        ),
    )
    shared_buffer_bytes: int = Field(
        2048,
        ge=8,
        description=(
            "per-chip shared buffer that broadcasts an input vector to the chip's bank PUs. Not stated; "
            "2 KiB holds 8 query vectors of 128 FP16 elements (GQA-8 with one KV head per chip)."
        ),
    )
    result_buffer_bytes: int = Field(
        1024,
        ge=8,
        description=(
            "per-bank result buffer. Not stated; 1 KiB holds a bank's FP32 output accumulators in the "
            "context phase of GQA-8 (8 query heads x 32 elements with one KV head per chip and V over "
            "4 banks), and 8 rows' worth of partial scores (128 B per row for MHA and GQA-8)."
        ),
    )

    @property
    def accumulator_bytes(self) -> int:
        """Bytes of one partial score or partial output element read by the rank PU."""
        return PRECISION_BYTES[self.accumulator_precision]


class RankPUSpec(Spec):
    """The PU on the DIMM's buffer chip: adder, chunked softmax, re-layout unit and SRAM."""

    adder_elements_per_cycle: float = Field(
        16.0,
        gt=0,
        description=(
            "partial values the adder sums per DRAM clock (tCK). Not stated; 16 exceeds what the rank "
            "bus delivers (64 B per 4 cycles = 4 FP32 values per cycle), so the adder keeps pace, as "
            "the paper's bubble-free pipelining assumes."
        ),
    )
    softmax_elements_per_cycle: float = Field(
        4.0,
        gt=0,
        description=(
            "scores the softmax unit exponentiates and sums per tCK. Not stated; 4 matches the rate at "
            "which FP32 scores arrive over the rank bus, so the chunked softmax keeps pace."
        ),
    )
    sram_bytes: int = Field(
        1048576,
        ge=1024,
        description=(
            "buffer-chip SRAM holding two chunks of FP32 scores (one filling, one being streamed back as "
            "S). Not stated; 1 MiB holds two 2,048-token chunks of GQA-8 scores for 8 KV heads."
        ),
    )
    softmax_chunk_tokens: int = Field(
        2048,
        ge=1,
        description=(
            "tokens per softmax chunk (flash-decoding style: each chunk gets its own partial output, "
            "read once per chunk and combined at the end), rounded up to whole rows of every bank. "
            "Not stated; 2,048 keeps the per-chunk output read-out of GQA-8 small next to the chunk's MACs."
        ),
    )


class MappingSpec(Spec):
    """How a request's KV heads are laid out over the chips and banks of a rank."""

    n_hc: int | Literal["auto"] = Field(
        "auto",
        description=(
            "N_hc, chips per KV head. 'auto': the largest value meeting the bubble-free condition "
            "T_comm <= T_comp (paper section V: 8 for MHA, 1 for GQA-8)."
        ),
    )
    v_banks: int = Field(
        4,
        ge=1,
        description="banks a V vector's slice is spread over at burst granularity (4 in the paper's first version)",
    )


class PIMFeatures(Spec):
    """Feature switches that make the ablation variants."""

    level: Literal["bank", "rank"] = Field("bank", description="bank PUs (L3) or one PU per rank (R-PIM)")
    relayout: Literal["in-flight", "cpu"] = Field(
        "in-flight", description="bit-level re-layout by the buffer chip during writes, or by the host CPU"
    )
    pipelining: bool = Field(True, description="bank-internal and external buses overlap (bubble-free pipelining)")


VARIANTS: dict[str, PIMFeatures] = {
    "l3": PIMFeatures(level="bank", relayout="in-flight", pipelining=True),
    "no-pipeline": PIMFeatures(level="bank", relayout="in-flight", pipelining=False),
    "cpu-relayout": PIMFeatures(level="bank", relayout="cpu", pipelining=False),
    "rank-pim": PIMFeatures(level="rank", relayout="in-flight", pipelining=True),
}


def variant_features(variant: str) -> PIMFeatures:
    """The feature switches of a named variant; ConfigError naming the known ones otherwise."""
    try:
        return VARIANTS[variant]
    except KeyError:
        raise ConfigError(f"unknown PIM variant {variant!r}; known: {', '.join(VARIANTS)}") from None


class PIMSpec(Spec):
    """The PIM units of an L3 DIMM (bank PU, rank PU), the head mapping and the default feature switches."""

    name: str = "l3"
    bank_pu: BankPUSpec = Field(default_factory=BankPUSpec)
    rank_pu: RankPUSpec = Field(default_factory=RankPUSpec)
    mapping: MappingSpec = Field(default_factory=MappingSpec)
    features: PIMFeatures = Field(default_factory=lambda: VARIANTS["l3"])
    source: str = "L3 paper (arXiv 2504.17584) sections III-V; unstated knobs documented per field"
