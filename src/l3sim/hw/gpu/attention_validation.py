"""Measured attention (``*_attention.csv``, written by ``tools/gpu_profile.py``) against a GPU cost source.

Each measured point is one layer's attention on one GPU of a TP group: a decode of ``batch`` requests of one
new token against ``cached`` tokens each, or a prefill chunk of ``chunk`` tokens after ``cached`` ones. The
cost source answers the same question for a one-layer model of the profile's shape (head dimension from the
file's ``head_dim`` column where ``tools/gpu_profile.py`` wrote one, else hidden size / query heads, as
Vidur's profiles imply): ``decode_attention_time_s(batch x (cached + 1), batch)`` and
``prefill_attention_time_s(chunk, cached)``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from l3sim.hw.gpu.cost_model import GPUCostModel
from l3sim.hw.profiles import load_vidur_attention_csv
from l3sim.spec.platform import PlatformSpec
from l3sim.spec.run import GPUCostSpec, RunSpec


def _cost_model(platform: PlatformSpec, cost: GPUCostSpec, name: str, shape: tuple[int, int, int, int], tp: int):
    """The cost model of a one-layer model of ``shape`` (hidden, query heads, KV heads, head dimension) on
    ``tp`` GPUs of ``platform``; its FFN and vocabulary are placeholders (attention does not read them)."""
    hidden, heads, kv_heads, head_dim = shape
    model = {"name": name, "num_layers": 1, "hidden_size": hidden, "num_heads": heads, "num_kv_heads": kv_heads,
             "head_dim": head_dim, "ffn_hidden_size": 4 * hidden, "vocab_size": 32000}
    spec = RunSpec.parse({"platform": platform.model_dump(), "model": model, "workload": "openr1",
                          "parallel": {"tp": tp, "dp": 1}, "gpu": cost.model_dump()},
                         source=f"attention profile {name} at tp={tp}")
    return GPUCostModel(spec)


def attention_points(path: str | Path, platform: PlatformSpec, cost: GPUCostSpec) -> pd.DataFrame:
    """Per measured point: file, tp, kind, batch, chunk, cached, measured_s, model_s, err (model / measured - 1)."""
    path = Path(path)
    table = load_vidur_attention_csv(path)
    model_s = np.empty(len(table))
    for (hidden, heads, kv_heads, head_dim, tp), group in table.groupby(["n_embd", "n_q_head", "n_kv_head",
                                                                        "head_dim", "tp"]):
        model = _cost_model(platform, cost, path.stem, (int(hidden), int(heads), int(kv_heads), int(head_dim)),
                            int(tp))
        for position, row in zip(group.index, group.itertuples()):
            if row.is_prefill:
                value = model.prefill_attention_time_s(int(row.chunk), int(row.cached))
            else:
                value = model.decode_attention_time_s(int(row.batch_size) * (int(row.cached) + 1),
                                                      int(row.batch_size))
            model_s[position] = float(value)
    kind = np.where(table["is_prefill"], "prefill", "decode")
    return pd.DataFrame({"file": path.name, "tp": table["tp"], "kind": kind, "batch": table["batch_size"],
                         "chunk": table["chunk"], "cached": table["cached"], "measured_s": table["median_s"],
                         "model_s": model_s,
                         "err": model_s / table["median_s"].to_numpy() - 1.0})

