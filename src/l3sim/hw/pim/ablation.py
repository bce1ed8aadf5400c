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
from l3sim.outputs import make_dir, save_figure
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


def plot_ablation(rows: list[dict], path) -> None:
    """Grouped bars: one panel per head set, a group per context length, a bar per variant."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(dict.fromkeys(r["attention"] for r in rows))
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    fig, axes = plt.subplots(1, len(labels), figsize=(6 * len(labels), 4), squeeze=False)
    width = 0.8 / len(variants)
    for ax, label in zip(axes[0], labels):
        mine = [r for r in rows if r["attention"] == label]
        contexts = list(dict.fromkeys(r["context_tokens"] for r in mine))
        for k, variant in enumerate(variants):
            ys = [next(r["normalized_latency"] for r in mine if r["variant"] == variant and r["context_tokens"] == c)
                  for c in contexts]
            ax.bar([i + k * width for i in range(len(contexts))], ys, width, label=variant)
        ax.set_xticks([i + width * (len(variants) - 1) / 2 for i in range(len(contexts))], [str(c) for c in contexts])
        ax.set_xlabel("context tokens")
        ax.set_ylabel(f"attention latency / {BASE_VARIANT}")
        ax.set_title(label)
        ax.legend(fontsize="small")
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    plt.close(fig)


def hw_ablation_study(platform: str, overrides: list[str], out) -> list[dict]:
    """The ``l3sim study hw-ablation`` entry: rows for the memory preset ``platform``, plot into ``out``."""
    from l3sim.hw.pim.system import load_pim_system

    rows = hw_ablation_rows(load_pim_system(platform, overrides))
    if out is not None:
        plot_ablation(rows, make_dir(out, "--out") / "hw-ablation.png")
    return rows
