"""The two end-to-end checks behind ``l3sim verify``: the real-model run and the layout checks."""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from l3sim.errors import ConfigError
from l3sim.functional.arithmetic import arithmetic_option
from l3sim.functional.backends import PIMAttention, ReferenceAttention
from l3sim.functional.burst import DDR4_X8, DDR5_X8, byte_placement, read_bursts, write_bursts
from l3sim.functional.gguf_weights import LlamaWeights, load_llama_gguf, smollm2_gguf_path
from l3sim.functional.llama import greedy_generate
from l3sim.functional.numerics import ELEMENT_BYTES
from l3sim.functional.placement import KVCacheStore, KVLayoutSpec

PROMPT_TOKENS = [1, 9690, 198, 2683, 359, 253, 5356, 5646, 11173, 3365, 3511, 308, 34519, 28, 7018, 411, 407,
                 19712, 8182, 2]
"""A fixed prompt as SmolLM2 token ids (the model's chat preamble: '<|im_start|>system\\nYou are a helpful AI
assistant named SmolLM, trained by Hugging Face<|im_end|>'); no tokenizer is needed."""

MAX_NEW_TOKENS = 4096
"""Most tokens ``l3sim verify functional`` generates (a few minutes of numpy; the cache is sized for it)."""

SMOLLM2_LAYOUT = KVLayoutSpec(v_banks_per_vector=2)
"""SmolLM2's head_dim of 64 gives each of 8 chips 8 FP16 elements = 2 bursts, so a V vector spreads over 2 banks."""


def functional_check(new_tokens: int = 32, arithmetic: str = "fp16-fp32acc",
                     weights: LlamaWeights | None = None, on_step: Callable[[], None] | None = None) -> dict:
    """Greedy-generate with reference attention and with PIM attention on the DIMM layout; compare.

    ``passed`` holds only if the token sequences match *and* every logit and error figure is finite:
    NaN logits make every arg-max pick token 0 on both sides, so matching tokens alone cannot tell a
    working emulation from broken weights. ``failures`` says what failed. ``on_step`` is called after each
    of the :func:`forward_passes` (a progress bar's tick).
    """
    if not 1 <= new_tokens <= MAX_NEW_TOKENS:
        raise ConfigError(f"--tokens must be from 1 to {MAX_NEW_TOKENS}, got {new_tokens}")
    arith = arithmetic_option(arithmetic)
    weights = weights or load_llama_gguf(smollm2_gguf_path())
    cfg = weights.config
    if max(PROMPT_TOKENS) >= cfg.vocab_size:
        raise ConfigError(f"{cfg.source or cfg.name}: tensor 'token_embd.weight': vocabulary of {cfg.vocab_size} tokens is smaller than the "
                          f"prompt's largest token id {max(PROMPT_TOKENS)}")
    capacity = len(PROMPT_TOKENS) + new_tokens
    reference = ReferenceAttention(cfg.num_layers, cfg.num_kv_heads, cfg.head_dim, capacity)
    with np.errstate(all="ignore"):  # non-finite numbers are reported below, not warned about
        ref_tokens, ref_logits = greedy_generate(weights, PROMPT_TOKENS, new_tokens, reference, on_step)
        store = KVCacheStore(SMOLLM2_LAYOUT.model_copy(update={"element_format": arith.operand_format}),
                             cfg.num_layers, cfg.num_kv_heads, cfg.head_dim, capacity)
        pim = PIMAttention(store, arith)
        pim_tokens, pim_logits = greedy_generate(weights, PROMPT_TOKENS, new_tokens, pim, on_step)
        logit_diff = float(np.max(np.abs(ref_logits - pim_logits)))
    result = {
        "model": cfg.name,
        "prompt_tokens": len(PROMPT_TOKENS),
        "tokens_generated": new_tokens,
        "tokens_match": ref_tokens == pim_tokens,
        "max_abs_err": pim.max_abs_err,
        "max_rel_err": pim.max_rel_err,
        "max_logit_abs_diff": logit_diff,
        "arithmetic": arith.name,
        "reference_tokens": ref_tokens,
        "pim_tokens": pim_tokens,
    }
    failures = _failures(result, ref_logits, pim_logits)
    return {**result, "passed": not failures, "failures": failures}


def forward_passes(new_tokens: int) -> int:
    """Forward passes of :func:`functional_check`: the prompt and all but the last token, twice."""
    return 2 * (len(PROMPT_TOKENS) + new_tokens - 1)


def _failures(result: dict, ref_logits: np.ndarray, pim_logits: np.ndarray) -> list[str]:
    """Why the functional check fails (empty: it passes)."""
    failures = []
    for side, logits in (("reference", ref_logits), ("PIM", pim_logits)):
        bad = int(np.count_nonzero(~np.isfinite(logits)))
        if bad:
            failures.append(f"{bad} of {logits.size} {side} logits are not finite (NaN or infinite weights or "
                            "metadata: the comparison is meaningless)")
    for name in ("max_abs_err", "max_rel_err", "max_logit_abs_diff"):
        if not math.isfinite(result[name]):
            failures.append(f"{name} is {result[name]!r}, not a finite number")
    if not result["tokens_match"]:
        failures.append("the PIM attention's tokens differ from the reference's")
    return failures


def layout_check(seed: int = 0) -> dict:
    """Round-trip and mapping checks on random data; returns each named check and whether it held."""
    rng = np.random.default_rng(seed)
    checks: dict[str, bool] = {}
    for burst_name, burst in (("ddr4-x8", DDR4_X8), ("ddr5-x8", DDR5_X8)):
        for fmt, size in ELEMENT_BYTES.items():
            host = rng.integers(0, 256, (64, burst.burst_bytes), dtype=np.uint8)
            ok = np.array_equal(read_bursts(write_bursts(host, burst, size), burst, size), host)
            plain_chip, _ = byte_placement(burst, size, relayout=False)
            l3_chip, l3_beat = byte_placement(burst, size, relayout=True)
            split_before = bool(np.all(plain_chip.min(axis=1) != plain_chip.max(axis=1)))
            whole_after = bool(np.all(l3_chip.min(axis=1) == l3_chip.max(axis=1))
                               and np.all(np.diff(l3_beat[:, :: burst.lane_bytes], axis=1) == 1))
            checks[f"{burst_name} {fmt}: write/read round trip"] = ok
            checks[f"{burst_name} {fmt}: standard lanes split every element"] = split_before
            checks[f"{burst_name} {fmt}: re-layout keeps elements whole on one chip"] = whole_after
    for name, layout, heads, hd in (("MHA N_hc=8", KVLayoutSpec(), 4, 128),
                                    ("GQA-8 N_hc=1", KVLayoutSpec(chips_per_head=1), 8, 128)):
        store = KVCacheStore(layout, num_layers=6, num_kv_heads=heads, head_dim=hd, max_tokens=100)
        k = rng.standard_normal((6, heads, 100, hd)).astype(np.float16)
        v = rng.standard_normal((6, heads, 100, hd)).astype(np.float16)
        store.append(k[:, :, :60], v[:, :, :60])
        store.append(k[:, :, 60:], v[:, :, 60:])
        got_k, got_v = store.gather()
        checks[f"KV {name}: gather returns what was appended"] = bool(
            np.array_equal(got_k, k) and np.array_equal(got_v, v))
        checks[f"KV {name}: bank PUs read whole K/V slices"] = bool(all(
            np.array_equal(store.chip_operands(layer, "k").reshape(heads, 100, hd), k[layer])
            and np.array_equal(store.chip_operands(layer, "v").reshape(heads, 100, hd), v[layer])
            for layer in range(6)))
    return {"seed": seed, "checks": checks, "all_passed": all(checks.values())}
