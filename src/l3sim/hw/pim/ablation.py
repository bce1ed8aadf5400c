"""The paper's hardware ablation (section VI): attention latency of each variant, normalised to ``cpu-relayout``.

Head sets: an MHA one (GPT-175B, the 12 heads of a TP8 slice) and a GQA-8 one
(QWEN-72B, a whole layer: 64 query heads over 8 KV heads, one KV head per chip
with N_hc = 1). The paper does not say which heads its ablation runs; these
are documented choices.
"""

from __future__ import annotations

from dataclasses import dataclass

from l3sim.hw.pim.latency import attention_latency
from l3sim.hw.pim.system import PIMSystem
from l3sim.spec.model import ModelSpec
from l3sim.spec.pim import VARIANTS
from l3sim.spec.presets import load_preset_data

ABLATION_CONTEXTS = (512, 1024, 2048, 4096, 8192)  # the paper's x axis
BASE_VARIANT = "cpu-relayout"  # the paper's ablation base


@dataclass(frozen=True)
class HeadSet:
    """A label and the query heads / GQA group of one layer slice."""

    label: str
    model: str
    tp: int

    def heads_and_group(self) -> tuple[int, int]:
        data, source = load_preset_data("models", self.model)
        model = ModelSpec.parse(data, source)
        return model.num_heads // self.tp, model.gqa_group


HEAD_SETS = (HeadSet("MHA (GPT-175B, TP8 slice)", "gpt-175b", 8), HeadSet("GQA-8 (QWEN-72B)", "qwen-72b", 1))


def hw_ablation_rows(system: PIMSystem, contexts=ABLATION_CONTEXTS, head_sets=HEAD_SETS, latency=None) -> list[dict]:
    """Rows {attention, context_tokens, variant, latency_s, normalized_latency}; ``latency`` defaults to the fast model."""
    latency = latency or attention_latency
    rows = []
    for head_set in head_sets:
        heads, gqa = head_set.heads_and_group()
        times = {v: latency(list(contexts), heads, gqa, v, system) for v in VARIANTS}
        for i, tokens in enumerate(contexts):
            for variant in VARIANTS:
                rows.append({
                    "attention": head_set.label,
                    "context_tokens": int(tokens),
                    "variant": variant,
                    "latency_s": float(times[variant][i]),
                    "normalized_latency": float(times[variant][i] / times[BASE_VARIANT][i]),
                })
    return rows
