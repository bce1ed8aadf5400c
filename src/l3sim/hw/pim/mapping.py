"""Head-to-chip mapping: N_cmr, N_hc (with the bubble-free rule) and the checks that a head fits the chips.

Paper symbols (section V) and their names here:
N_gqa = ``gqa`` (query heads per KV head), N_cmr = ``n_cmr`` (MACs per element
read), N_hc = ``n_hc`` (chips per KV head), E_h = ``head_dim``, N_bk =
``banks_per_chip``, N_chips = ``chips_per_rank``.
"""

from __future__ import annotations

import math
from functools import lru_cache
from dataclasses import dataclass

from l3sim.errors import ConfigError
from l3sim.hw.pim.geometry import RankGeometry
from l3sim.spec.pim import PIMSpec

HEAD_DIM = 128  # E_h of every model the paper evaluates
ELEMENT_BYTES = 2  # FP16 KV elements, q and S (paper section III)


@dataclass(frozen=True)
class HeadMapping:
    """How the KV heads of one request's layer sit on one rank."""

    gqa: int  # N_gqa
    n_cmr: int  # MACs per element read
    n_hc: int  # chips per KV head
    chip_groups: int  # KV heads processed at once (chips / N_hc)
    passes: int  # ceil(N_gqa / N_cmr): times the K and V data are read
    cols_per_token: int  # bursts of one token's K (or V) slice in one chip
    head_dim: int
    element_bytes: int


def resolve_n_cmr(gqa: int, pim: PIMSpec) -> int:
    value = pim.bank_pu.macs_per_element
    return gqa if value == "auto" else int(value)


def bubble_free_n_hc_bound(
    geometry: RankGeometry,
    heads_per_pass: int,
    accumulator_bytes: int,
    mac_interval_cycles: float,
    result_burst_interval_cycles: float,
    head_dim: int = HEAD_DIM,
    element_bytes: int = ELEMENT_BYTES,
) -> float:
    """Largest N_hc with T_comm <= T_comp in the score phase (paper section V, in our units).

    Over one row of every bank: T_comp = row_bursts x (PIM_MAC interval) and
    T_comm = result bursts x (PIM_RD_RB interval), where one chip's results of
    that row are (row_bursts / cols_per_token) x banks x heads_per_pass
    partial scores of ``accumulator_bytes`` each and cols_per_token =
    head_dim x element_bytes / (N_hc x burst_bytes_per_chip). Solving for N_hc:
    N_hc <= mac_interval x head_dim x element_bytes /
    (banks x heads_per_pass x accumulator_bytes x result_burst_interval).
    """
    return (mac_interval_cycles * head_dim * element_bytes) / (
        geometry.banks_per_chip * heads_per_pass * accumulator_bytes * result_burst_interval_cycles
    )


def _valid_n_hc(geometry: RankGeometry, head_dim: int, element_bytes: int) -> list[int]:
    """Chip counts a KV head can span: divisors of the chips per rank giving whole bursts per token."""
    slice_bytes = head_dim * element_bytes
    return [
        n
        for n in range(1, geometry.chips_per_rank + 1)
        if geometry.chips_per_rank % n == 0
        and slice_bytes % (n * geometry.burst_bytes_per_chip) == 0
        and geometry.row_bursts % (slice_bytes // (n * geometry.burst_bytes_per_chip)) == 0
    ]


@lru_cache(maxsize=256)
def head_mapping(
    gqa: int,
    geometry: RankGeometry,
    pim: PIMSpec,
    head_dim: int = HEAD_DIM,
    element_bytes: int = ELEMENT_BYTES,
) -> HeadMapping:
    """Resolve 'auto' knobs and check that the mapping fits the chips; ConfigError names the fields."""
    if gqa < 1:
        raise ConfigError(f"gqa must be >= 1 (got {gqa})")
    n_cmr = resolve_n_cmr(gqa, pim)
    if n_cmr < 1:
        raise ConfigError(f"pim.bank_pu.macs_per_element must be >= 1 or 'auto' (got {n_cmr})")
    passes = math.ceil(gqa / n_cmr)
    valid = _valid_n_hc(geometry, head_dim, element_bytes)
    if not valid:
        raise ConfigError(
            f"head_dim {head_dim} x {element_bytes} B cannot be split into whole bursts over the chips of a rank"
        )
    acc = pim.bank_pu.accumulator_bytes
    if pim.mapping.n_hc == "auto":
        bound = bubble_free_n_hc_bound(
            geometry, min(n_cmr, gqa), acc, geometry.tccd_l, geometry.burst_cycles, head_dim, element_bytes
        )
        n_hc = max([n for n in valid if n <= bound], default=min(valid))
    else:
        n_hc = int(pim.mapping.n_hc)
        if n_hc not in valid:
            raise ConfigError(
                f"pim.mapping.n_hc = {n_hc} does not fit: a KV head can span {valid} chips "
                f"(divisors of memory chips per rank = {geometry.chips_per_rank} that give whole "
                f"{geometry.burst_bytes_per_chip}-byte bursts of the {head_dim}-element head)"
            )
    cols = head_dim * element_bytes // (n_hc * geometry.burst_bytes_per_chip)
    mapping = HeadMapping(
        gqa=gqa,
        n_cmr=n_cmr,
        n_hc=n_hc,
        chip_groups=geometry.chips_per_rank // n_hc,
        passes=passes,
        cols_per_token=cols,
        head_dim=head_dim,
        element_bytes=element_bytes,
    )
    _check_buffers(mapping, geometry, pim)
    return mapping


def _check_buffers(mapping: HeadMapping, geometry: RankGeometry, pim: PIMSpec) -> None:
    """The q slices must fit the shared buffer, the V accumulators the result buffer, V the banks."""
    v_banks = pim.mapping.v_banks
    if geometry.banks_per_chip % v_banks or mapping.cols_per_token % v_banks:
        raise ConfigError(
            f"pim.mapping.v_banks = {v_banks} must divide memory banks per chip ({geometry.banks_per_chip}) "
            f"and the {mapping.cols_per_token} bursts of a token's V slice (pim.mapping.n_hc = {mapping.n_hc})"
        )
    heads = min(mapping.n_cmr, mapping.gqa)
    q_bytes = heads * mapping.head_dim * mapping.element_bytes // mapping.n_hc
    if q_bytes > pim.bank_pu.shared_buffer_bytes:
        raise ConfigError(
            f"pim.bank_pu.shared_buffer_bytes = {pim.bank_pu.shared_buffer_bytes} cannot hold the q slices "
            f"of {heads} heads ({q_bytes} B) with pim.mapping.n_hc = {mapping.n_hc}"
        )
    acc_bytes = v_accumulator_bytes(mapping, geometry, pim)
    if acc_bytes > pim.bank_pu.result_buffer_bytes:
        raise ConfigError(
            f"pim.bank_pu.result_buffer_bytes = {pim.bank_pu.result_buffer_bytes} cannot hold a bank's "
            f"{acc_bytes} B of output accumulators (pim.mapping.v_banks = {v_banks}, n_hc = {mapping.n_hc}, "
            f"{heads} heads per pass)"
        )


def v_accumulator_bytes(mapping: HeadMapping, geometry: RankGeometry, pim: PIMSpec) -> int:
    """Bytes of output accumulators one bank PU keeps in the context phase."""
    elements_per_burst = geometry.burst_bytes_per_chip // mapping.element_bytes
    cols_per_bank = mapping.cols_per_token // pim.mapping.v_banks
    return cols_per_bank * elements_per_burst * min(mapping.n_cmr, mapping.gqa) * pim.bank_pu.accumulator_bytes
