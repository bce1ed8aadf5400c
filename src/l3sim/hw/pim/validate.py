"""``l3sim hw validate``: the fast model against the command-level engine over the issue's grid.

Grid: context lengths 128 .. 131,072 (powers of 4 and the ends), an MHA head
set (12 heads: GPT-175B's TP8 slice) and a GQA-8 one (64 query heads over 8 KV
heads: QWEN-72B's layer), every variant, on the DDR4-3200 and DDR5-4800 memory
presets. Both sides run without refresh here: the engine starts its refresh
schedule at cycle 0, so a short call sees none or one REF depending on where
it falls, while the fast model charges refresh's expected share; the refresh
term is checked separately (``report``'s streaming bandwidth, engine vs model).
"""

from __future__ import annotations

import numpy as np

from l3sim.hw.pim.latency import attention_latency
from l3sim.hw.pim.system import load_pim_system
from l3sim.spec.pim import VARIANTS

DEFAULT_PLATFORMS = ("dgx-a100-l3", "ddr5-server")
VALIDATION_CONTEXTS = (128, 512, 2048, 8192, 32768, 131072)
VALIDATION_HEADS = (("MHA", 12, 1), ("GQA-8", 64, 8))


def validate_grid(platforms, overrides=None, contexts=VALIDATION_CONTEXTS, head_sets=VALIDATION_HEADS,
                  variants=tuple(VARIANTS)) -> dict:
    """Every grid point's engine and model latency and their relative error; the worst one."""
    from l3sim.hw.pim.reference import reference_latency

    points = []
    for platform in platforms:
        system = load_pim_system(platform, overrides)
        for label, heads, gqa in head_sets:
            for variant in variants:
                model = attention_latency(np.array(contexts), heads, gqa, variant, system, refresh=False)
                for tokens, model_s in zip(contexts, model):
                    engine_s = float(reference_latency(tokens, heads, gqa, variant, system, refresh=False))
                    points.append({
                        "platform": platform, "attention": label, "variant": variant,
                        "context_tokens": int(tokens), "engine_s": engine_s, "model_s": float(model_s),
                        "rel_err": float(model_s / engine_s - 1),
                    })
    worst = max(points, key=lambda p: abs(p["rel_err"]))
    return {"max_rel_err": abs(worst["rel_err"]), "worst": worst, "points": points}
