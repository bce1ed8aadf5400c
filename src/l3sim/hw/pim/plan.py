"""Command counts of one decode-attention call, vectorised over context lengths.

One call = one decode step of one layer of one request, for the heads that
request's layer keeps on ONE rank (the paper places a request's layer whole on
a rank of one rankset, layers interleaved across ranksets). Both the program
builder (``programs``) and the closed-form model (``latency``) read these
counts, so the two cannot disagree about what a kernel does, only about how
long it takes.

Layout (paper section IV): token t of a KV head goes to bank t mod N_bk; its K
slice (cols_per_token bursts per chip) fills consecutive columns of that bank;
one row of every bank ("a row-round") therefore holds
row_bursts / cols_per_token x N_bk tokens. V slices are spread over v_banks
banks at burst granularity, so a row-round of V holds the same tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from l3sim.errors import ConfigError
from l3sim.hw.pim.geometry import RankGeometry
from l3sim.hw.pim.mapping import HeadMapping, head_mapping
from l3sim.spec.pim import PIMFeatures, PIMSpec

INT = np.int64


def _ceil_div(a, b):
    return -(-np.asarray(a, dtype=INT) // b)


@dataclass(frozen=True)
class RowCounts:
    """Rows of every bank one phase (K or V) of one pass opens: full rows and the last, partial one."""

    full_rows: np.ndarray  # row-rounds with row_bursts MACs
    last_macs: np.ndarray  # MACs of the last, partial row-round (0: none)
    bursts_full: int  # rank-bus bursts that go with one full row-round
    last_bursts: np.ndarray  # rank-bus bursts that go with the partial row-round


@dataclass(frozen=True)
class PassCounts:
    """Counts of one (round, pass) of the bank-level kernel, for ``heads`` query heads."""

    heads: int  # query heads served in this pass (N_cmr, or fewer in the last pass)
    repeat: int  # how many (round, pass) units have exactly these counts
    q_bursts: int  # PIM_WR_SB bursts that load the q slices
    k_rows: RowCounts  # score phase; bursts = PIM_RD_RB of partial scores
    v_rows: RowCounts  # context phase; bursts = PIM_WR_SB (or PIM_LD_SB) of S
    chunks: np.ndarray  # softmax chunks (1 without pipelining)
    out_bursts: int  # PIM_RD_RB of one chunk's partial outputs
    s_bursts: np.ndarray  # bursts of S per chip lane (written back to DRAM without pipelining)


@dataclass(frozen=True)
class CallPlan:
    """Everything one call does, by kind of command; arrays have the shape of ``context_tokens``."""

    context_tokens: np.ndarray
    heads: int
    kv_heads: int
    features: PIMFeatures
    mapping: HeadMapping | None  # None for rank-level PIM
    host_in_bursts: int  # q, new k and new v written by the host over the channel
    host_out_bursts: int  # the output vectors read back by the host
    passes: tuple[PassCounts, ...]  # bank-level kernels
    rank_read_bursts: np.ndarray  # rank-level PIM: K and V read by the buffer-chip PU

    @property
    def relayout_extra_in_bursts(self) -> int:
        """CPU re-layout: the host reads the inputs back and writes them again in PIM layout."""
        return 2 * self.host_in_bursts if self.features.relayout == "cpu" else 0

    @property
    def relayout_extra_out_bursts(self) -> int:
        """CPU re-layout: the output, read in PIM layout, is written back in the host layout."""
        return self.host_out_bursts if self.features.relayout == "cpu" else 0


def _row_counts(macs_per_bank: np.ndarray, row_bursts: int, tokens: np.ndarray, tokens_per_row: int,
                bytes_per_token_per_chip: int, burst_bytes: int) -> RowCounts:
    full = macs_per_bank // row_bursts
    last_tokens = tokens - full * tokens_per_row
    return RowCounts(
        full_rows=full,
        last_macs=macs_per_bank - full * row_bursts,
        bursts_full=int(_ceil_div(tokens_per_row * bytes_per_token_per_chip, burst_bytes)),
        last_bursts=_ceil_div(np.maximum(last_tokens, 0) * bytes_per_token_per_chip, burst_bytes),
    )


def plan_call(context_tokens, heads: int, gqa: int, features: PIMFeatures, geometry: RankGeometry,
              pim: PIMSpec, head_dim: int = 128, element_bytes: int = 2) -> CallPlan:
    """Count the commands of one decode-attention call of ``heads`` query heads in groups of ``gqa``."""
    tokens = np.atleast_1d(np.asarray(context_tokens, dtype=INT))
    if heads < 1 or gqa < 1 or heads % gqa:
        raise ConfigError(f"heads ({heads}) must be a positive multiple of gqa ({gqa})")
    if np.any(tokens < 1):
        raise ConfigError("context_tokens must all be >= 1")
    kv_heads = heads // gqa
    rank_bytes = geometry.burst_bytes_per_rank
    vector_bytes = head_dim * element_bytes
    host_in = int(_ceil_div((heads + 2 * kv_heads) * vector_bytes, rank_bytes))
    host_out = int(_ceil_div(heads * vector_bytes, rank_bytes))
    if features.level == "rank":
        reads = 2 * kv_heads * _ceil_div(tokens * vector_bytes, rank_bytes)
        return CallPlan(tokens, heads, kv_heads, features, None, host_in, host_out, (), reads)
    mapping = head_mapping(gqa, geometry, pim, head_dim, element_bytes)
    rounds = -(-kv_heads // mapping.chip_groups)
    full_passes, rest = divmod(gqa, mapping.n_cmr)
    groups = [(mapping.n_cmr, full_passes)] + ([(rest, 1)] if rest else [])
    passes = tuple(
        _pass_counts(tokens, hp, rounds * count, mapping, features, geometry, pim) for hp, count in groups if count
    )
    return CallPlan(tokens, heads, kv_heads, features, mapping, host_in, host_out, passes, np.zeros_like(tokens))


def _pass_counts(tokens: np.ndarray, hp: int, repeat: int, mapping: HeadMapping, features: PIMFeatures,
                 geometry: RankGeometry, pim: PIMSpec) -> PassCounts:
    banks, rb, bb = geometry.banks_per_chip, geometry.row_bursts, geometry.burst_bytes_per_chip
    cols = mapping.cols_per_token
    acc = pim.bank_pu.accumulator_bytes
    tokens_per_row = rb // cols * banks
    k_rows = _row_counts(_ceil_div(tokens, banks) * cols, rb, tokens, tokens_per_row, hp * acc, bb)
    v_banks = pim.mapping.v_banks
    sets = banks // v_banks
    cols_per_bank = cols // v_banks
    v_rows = _row_counts(_ceil_div(tokens, sets) * cols_per_bank, rb, tokens, tokens_per_row,
                         hp * mapping.element_bytes, bb)
    if features.pipelining:
        chunk_tokens = int(_ceil_div(pim.rank_pu.softmax_chunk_tokens, tokens_per_row)) * tokens_per_row
        _check_sram(chunk_tokens * hp * mapping.chip_groups * acc, pim)
        chunks = _ceil_div(tokens, chunk_tokens)
    else:
        chunks = np.ones_like(tokens)
    out_elements = cols_per_bank * (bb // mapping.element_bytes) * hp * banks
    return PassCounts(
        heads=hp,
        repeat=repeat,
        q_bursts=hp * cols,
        k_rows=k_rows,
        v_rows=v_rows,
        chunks=chunks,
        out_bursts=int(_ceil_div(out_elements * acc, bb)),
        s_bursts=_ceil_div(tokens * hp * mapping.element_bytes, bb),
    )


def _check_sram(chunk_score_bytes: int, pim: PIMSpec) -> None:
    """Pipelined, the rank PU holds two chunks of scores: one filling, one streaming back as S."""
    if 2 * chunk_score_bytes > pim.rank_pu.sram_bytes:
        raise ConfigError(
            f"pim.rank_pu.sram_bytes = {pim.rank_pu.sram_bytes} cannot hold two chunks of scores "
            f"({chunk_score_bytes} B each with pim.rank_pu.softmax_chunk_tokens = "
            f"{pim.rank_pu.softmax_chunk_tokens}, rounded up to whole rows of every bank)"
        )
