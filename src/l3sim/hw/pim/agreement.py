"""``l3sim hw validate``: the fast model against the command-level engine over the issue's grid.

Grid: context lengths 128 .. 131,072 (powers of 4 and the ends), an MHA head
set (12 heads: GPT-175B's TP8 slice) and a GQA-8 one (64 query heads over 8 KV
heads: QWEN-72B's layer), every variant, on the DDR4-3200 and DDR5-4800 memory
presets. Each point is compared twice: without refresh (the command-level
agreement of the closed form) and with refresh, the engine's schedule starting
at cycle 0 against the fast model's "aligned" refresh term (the default
"expected" term is the average over where a call starts, which one engine run
from cycle 0 cannot show).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from l3sim.hw.pim.latency import attention_latency
from l3sim.hw.pim.reference import reference_latency
from l3sim.hw.pim.system import load_pim_system
from l3sim.spec.pim import VARIANTS

DEFAULT_PLATFORMS = ("dgx-a100-l3", "ddr5-server")
VALIDATION_CONTEXTS = (128, 512, 2048, 8192, 32768, 131072)
VALIDATION_HEADS = (("MHA", 12, 1), ("GQA-8", 64, 8))


def grid_work(platforms, contexts=VALIDATION_CONTEXTS, head_sets=VALIDATION_HEADS, variants=tuple(VARIANTS)) -> int:
    """The engine work of :func:`validate_grid` in context tokens (an engine run's time grows with them):
    the total its ``progress`` callback counts up to."""
    return len(platforms) * len(head_sets) * len(variants) * 2 * sum(contexts)


def validate_grid(platforms, overrides=None, contexts=VALIDATION_CONTEXTS, head_sets=VALIDATION_HEADS,
                  variants=tuple(VARIANTS), progress: Callable[[float], None] | None = None) -> dict:
    """Every grid point's engine and model latency and their relative error; the worst one.

    ``progress(tokens)`` is called after each engine run with its context tokens (see :func:`grid_work`).
    """
    points = []
    for platform in platforms:
        system = load_pim_system(platform, overrides)
        for label, heads, gqa in head_sets:
            for variant in variants:
                model = {mode: attention_latency(np.array(contexts), heads, gqa, variant, system, refresh=mode)
                         for mode in (False, "aligned")}
                for i, tokens in enumerate(contexts):
                    point = {"platform": platform, "attention": label, "variant": variant, "context_tokens": int(tokens)}
                    for mode, name in ((False, ""), ("aligned", "_refresh")):
                        engine_s = float(reference_latency(tokens, heads, gqa, variant, system, refresh=bool(mode)))
                        if progress is not None:
                            progress(tokens)
                        point[f"engine{name}_s"] = engine_s
                        point[f"model{name}_s"] = float(model[mode][i])
                        point[f"rel_err{name}"] = float(model[mode][i] / engine_s - 1)
                    points.append(point)
    worst = max(points, key=lambda p: abs(p["rel_err"]))
    worst_refresh = max(points, key=lambda p: abs(p["rel_err_refresh"]))
    return {"max_rel_err": abs(worst["rel_err"]), "worst": worst,
            "max_rel_err_refresh": abs(worst_refresh["rel_err_refresh"]), "worst_refresh": worst_refresh,
            "points": points}
