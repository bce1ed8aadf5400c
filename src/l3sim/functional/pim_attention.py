"""Decode attention computed the way L3's PIM computes it, on the DIMM layout, and its references.

Per layer and decode step (L3 paper, section V):

1. The GPU scales q by 1/sqrt(head_dim) and sends it; the rank PU broadcasts it
   (rounded to the operand format) through each chip's shared buffer.
2. Bank PUs (adder-tree mode) form partial dot products over their chip's
   head-dimension slice; GQA: one K element read serves the ``n_gqa`` query
   heads of its group (N_cmr = n_gqa MACs per element read).
3. The rank PU sums the chips' partials (FP32) and runs softmax chunk by chunk:
   p = exp(s - chunk max), rounded to the operand format for the broadcast.
4. Bank PUs (accumulator mode) accumulate p.V over the tokens of their bank
   group, each owning a slice of the output; the rank PU adds the bank groups
   and folds the chunk into a running (max, sum, output) triple; a final
   division normalises across chunks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from l3sim.errors import ConfigError
from l3sim.functional.arithmetic import (
    UNDERFLOW_ABS,
    PUArithmetic,
    adder_tree,
    products,
    sequential_sum,
    unit_roundoff,
)
from l3sim.functional.numerics import round_to
from l3sim.functional.placement import KVCacheStore

DEFAULT_CHUNK_TOKENS = 256
"""Softmax chunk of the rank PU. Not stated in the paper; 256 tokens of FP32
scores (1 KB per query head) is a modest rank-PU SRAM budget."""

RANK_FORMAT = "fp32"
"""The rank PU (logic process) computes in FP32; a modelling choice."""

EXP_ULPS = 2
"""Assumed accuracy of the FP32 exp unit, in units in the last place (numpy's float32 exp is within 1 ulp)."""


@dataclass(frozen=True)
class PIMAttentionResult:
    """Output of one head set and the work it cost (for the N_cmr and traffic checks)."""

    output: np.ndarray  # (num_heads, head_dim) float32
    query: np.ndarray  # (num_heads, head_dim) the scaled q as broadcast (operand format, as float32)
    k_elements_read: int
    score_macs: int
    v_elements_read: int
    context_macs: int


def _check(store: KVCacheStore, layer: int, q: np.ndarray, arith: PUArithmetic, chunk_tokens: int) -> int:
    geo = store.geo
    if store.layout.element_format != arith.operand_format:
        raise ConfigError(f"KV stored as {store.layout.element_format} but the bank PUs expect "
                          f"{arith.operand_format} operands")
    if q.ndim != 2 or q.shape[1] != geo.head_dim or q.shape[0] % geo.num_kv_heads:
        raise ConfigError(f"q must be (num_heads, {geo.head_dim}) with num_heads a multiple of "
                          f"{geo.num_kv_heads} KV heads; got {q.shape}")
    if chunk_tokens < 1 or chunk_tokens % geo.v_bank_groups:
        raise ConfigError(f"softmax chunk of {chunk_tokens} tokens must be a positive multiple of the "
                          f"{geo.v_bank_groups} V bank groups")
    if store.layer_tokens[layer] == 0:
        raise ConfigError(f"attention over an empty KV cache (layer {layer})")
    return q.shape[0] // geo.num_kv_heads


def pim_attention(store: KVCacheStore, layer: int, q: np.ndarray, arith: PUArithmetic,
                  chunk_tokens: int = DEFAULT_CHUNK_TOKENS) -> PIMAttentionResult:
    """Attention of query ``q`` (num_heads, head_dim) over ``layer`` of ``store``, emulating the PUs."""
    n_gqa = _check(store, layer, q, arith, chunk_tokens)
    geo, tokens = store.geo, int(store.layer_tokens[layer])
    kv_heads, hd = geo.num_kv_heads, geo.head_dim
    q_op = round_to(np.asarray(q, np.float32) / np.float32(math.sqrt(hd)), arith.operand_format)
    q_chips = q_op.astype(np.float32).reshape(kv_heads, n_gqa, geo.chips_per_head, geo.slice_elems)

    k = store.chip_operands(layer, "k")  # (kv_heads, T, N_hc, slice), read chip by chip
    partial = adder_tree(products(q_chips[:, :, None], k[:, None], arith), arith.accumulator_format)
    scores = adder_tree(partial.astype(np.float32), RANK_FORMAT)  # (kv_heads, n_gqa, T)

    n_chunks = -(-tokens // chunk_tokens)
    pad = n_chunks * chunk_tokens - tokens
    scores = np.pad(scores, ((0, 0), (0, 0), (0, pad)), constant_values=-np.inf)
    scores = scores.reshape(kv_heads, n_gqa, n_chunks, chunk_tokens)
    chunk_max = scores.max(axis=-1)
    p = round_to(np.exp(scores - chunk_max[..., None]), arith.operand_format)
    chunk_sum = adder_tree(p.astype(np.float32), RANK_FORMAT)  # (kv_heads, n_gqa, chunks)

    v = store.chip_operands(layer, "v").reshape(kv_heads, tokens, hd)
    v = np.pad(v, ((0, 0), (0, pad), (0, 0))).reshape(kv_heads, 1, n_chunks, chunk_tokens, hd)
    groups = geo.v_bank_groups
    pv = products(p.astype(np.float32)[..., None], v, arith)
    pv = pv.reshape(kv_heads, n_gqa, n_chunks, chunk_tokens // groups, groups, hd)
    per_bank = sequential_sum(pv, axis=3, fmt=arith.accumulator_format)  # (kv, n, chunks, groups, hd)
    chunk_out = adder_tree(np.moveaxis(per_bank.astype(np.float32), 3, -1), RANK_FORMAT)

    run_max = np.full(chunk_max.shape[:2], -np.inf, dtype=np.float32)
    run_sum = np.zeros_like(run_max)
    run_out = np.zeros((kv_heads, n_gqa, hd), dtype=np.float32)
    for c in range(n_chunks):  # the rank PU's running softmax, one chunk at a time
        new_max = np.maximum(run_max, chunk_max[..., c])
        old_scale, new_scale = np.exp(run_max - new_max), np.exp(chunk_max[..., c] - new_max)
        run_sum = run_sum * old_scale + chunk_sum[..., c] * new_scale
        run_out = run_out * old_scale[..., None] + chunk_out[..., c, :] * new_scale[..., None]
        run_max = new_max
    output = (run_out / run_sum[..., None]).reshape(kv_heads * n_gqa, hd)
    return PIMAttentionResult(
        output=output.astype(np.float32),
        query=q_op.astype(np.float32),
        k_elements_read=kv_heads * tokens * hd,
        score_macs=kv_heads * n_gqa * tokens * hd,
        v_elements_read=kv_heads * tokens * hd,
        context_macs=kv_heads * n_gqa * tokens * hd,
    )


def reference_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, scale: float | None = None) -> np.ndarray:
    """Float64 softmax(q.K^T * scale).V; q (heads, d), k and v (kv_heads, T, d); GQA by head groups."""
    q64, k64, v64 = (np.asarray(x, dtype=np.float64) for x in (q, k, v))
    kv_heads, _, hd = k64.shape
    scale = 1.0 / math.sqrt(hd) if scale is None else scale
    qg = q64.reshape(kv_heads, -1, hd)
    s = np.einsum("hnd,htd->hnt", qg, k64) * scale
    w = np.exp(s - s.max(axis=-1, keepdims=True))
    w /= w.sum(axis=-1, keepdims=True)
    return np.einsum("hnt,htd->hnd", w, v64).reshape(q64.shape)


def error_bound(q_op: np.ndarray, k: np.ndarray, v: np.ndarray, arith: PUArithmetic, chips_per_head: int,
                v_bank_groups: int, chunk_tokens: int = DEFAULT_CHUNK_TOKENS) -> np.ndarray:
    """Per-element bound on |PIM output - float64 attention| for the same stored operands.

    ``q_op`` is the scaled query as broadcast (``PIMAttentionResult.query``); ``k``,
    ``v`` the stored (kv_heads, T, d). Derivation in docs/functional.md; every
    rounding x -> x(1+e) + f with |e| <= u and |f| <= the format's underflow floor.
    """
    q64, k64, v64 = (np.asarray(x, dtype=np.float64) for x in (q_op, k, v))
    kv_heads, tokens, hd = k64.shape
    qg = q64.reshape(kv_heads, -1, hd)
    u_p = unit_roundoff(arith.product_format, exact=arith.product_format == "fp32")
    u_a, u_r, u_s = (unit_roundoff(f) for f in (arith.accumulator_format, RANK_FORMAT, arith.operand_format))
    f_p, f_a, f_s = (UNDERFLOW_ABS[f] for f in (arith.product_format, arith.accumulator_format,
                                                 arith.operand_format))
    depth_chip = math.ceil(math.log2(hd // chips_per_head)) if hd > chips_per_head else 0
    depth_rank = math.ceil(math.log2(chips_per_head)) if chips_per_head > 1 else 0
    abs_qk = np.einsum("hnd,htd->hnt", np.abs(qg), np.abs(k64))
    score_gamma = (1 + u_p) * (1 + u_a) ** depth_chip * (1 + u_r) ** depth_rank - 1
    score_err = score_gamma * abs_qk + 2 * hd * (f_p + f_a)  # |s_hat - s| per token
    s = np.einsum("hnd,htd->hnt", qg, k64)
    s_max = np.abs(s).max(axis=-1, keepdims=True) + score_err.max(axis=-1, keepdims=True)
    n_chunks = -(-tokens // chunk_tokens)
    # log of the relative perturbation of one weight's numerator: score error, the
    # FP32 subtraction, exp, rounding p for the broadcast, and the running rescales.
    rho = (score_err.max(axis=-1, keepdims=True) + 2 * u_r * s_max + 2 * EXP_ULPS * u_r + u_s
           + n_chunks * (2 * u_r * 2 * s_max + 2 * EXP_ULPS * u_r + 3 * u_r))
    sums = math.ceil(math.log2(chunk_tokens)) + math.ceil(math.log2(max(v_bank_groups, 2))) + 1
    n_seq = chunk_tokens // v_bank_groups
    factor = np.exp(2 * rho + 2 * sums * u_r) * (1 + u_p) * (1 + u_a) ** n_seq
    w = np.exp(s - s.max(axis=-1, keepdims=True))
    w /= w.sum(axis=-1, keepdims=True)
    weighted_abs_v = np.einsum("hnt,htd->hnd", w, np.abs(v64))
    absolute = 2 * tokens * (f_s * np.abs(v64).max() + f_p + f_a)
    return ((factor - 1) * factor * weighted_abs_v + absolute).reshape(q64.shape)
