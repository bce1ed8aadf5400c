"""Valid inputs of every kind the CLI reads, and the command that reads each: the seeds the fuzz tests damage.

Every seed runs in well under a second (a 7B model, two requests of a short workload, the gpu-only
system), so that hundreds of damaged variants fit in the test budget.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from l3sim.spec.presets import load_preset_data

RUN = ["run", "--model", "llama-2-7b", "--workload", "dolphin-short", "--requests", "2"]


def _toml(table: dict, prefix: str = "") -> str:
    """A flat-or-nested dict of preset data as TOML (tables after plain keys)."""
    plain = [f"{key} = {json.dumps(value)}" for key, value in table.items() if not isinstance(value, dict)]
    nested = [f"\n[{prefix}{key}]\n" + _toml(value, f"{prefix}{key}.") for key, value in table.items()
              if isinstance(value, dict)]
    return "\n".join(plain) + "\n" + "".join(nested)


HF_LLAMA = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 1024, "intermediate_size": 2816,
    "num_attention_heads": 16, "num_hidden_layers": 4, "num_key_value_heads": 4, "vocab_size": 32000,
    "hidden_act": "silu", "max_position_embeddings": 4096, "tie_word_embeddings": False,
}
HF_OPT = {
    "architectures": ["OPTForCausalLM"], "model_type": "opt", "hidden_size": 768, "ffn_dim": 3072,
    "num_attention_heads": 12, "num_hidden_layers": 2, "vocab_size": 50272, "activation_function": "relu",
    "max_position_embeddings": 2048,
}

AZURE = "TIMESTAMP,ContextTokens,GeneratedTokens\n" + "".join(
    f"2023-11-16 18:15:{10 + i:02d}.{i}000000,{100 + 37 * i},{20 + 11 * i}\n" for i in range(8))
MOONCAKE = "".join(json.dumps({"timestamp": 250 * i, "input_length": 300 + 50 * i, "output_length": 30 + 7 * i,
                               "hash_ids": [i, i + 1]}) + "\n" for i in range(8))

SWEEP = """
[base]
platform = "dgx-a100"
model = "llama-2-7b"
workload = "dolphin-short"
requests = 2

[grid]
seed = [0, 1]

[output]
metrics = ["throughput_tok_s", "makespan_s"]
plots = [{x = "seed", y = "throughput_tok_s"}]
"""


@dataclass(frozen=True)
class Seed:
    """One input kind: a file name, its valid text, and the CLI arguments that read it from ``path``."""

    name: str
    text: str
    command: Callable[[Path, Path], list[str]]  # (input path, scratch folder) -> args


def seeds() -> list[Seed]:
    """One seed per input kind."""
    model = _toml(load_preset_data("models", "llama-2-7b")[0])
    platform = _toml({k: v for k, v in load_preset_data("platforms", "dgx-a100")[0].items()})
    workload = _toml(load_preset_data("workloads", "dolphin-short")[0])
    run_json = json.dumps({"system": "gpu-only", "avg_batch_size": 12.5, "throughput_tok_s": 900.0})
    return [
        Seed("model.toml", model, lambda p, tmp: ["run", "--model", str(p), *RUN[3:]]),
        Seed("config.json", json.dumps(HF_LLAMA), lambda p, tmp: ["run", "--model", str(p), *RUN[3:]]),
        Seed("opt.json", json.dumps(HF_OPT), lambda p, tmp: ["run", "--model", str(p), *RUN[3:]]),
        Seed("platform.toml", platform, lambda p, tmp: [*RUN, "--platform", str(p)]),
        Seed("workload.toml", workload, lambda p, tmp: ["run", "--model", "llama-2-7b", "--workload", str(p),
                                                        "--requests", "2"]),
        Seed("azure.csv", AZURE, lambda p, tmp: ["run", "--model", "llama-2-7b", "--trace", str(p), "--requests",
                                                 "2", "--arrival", "trace"]),
        Seed("mooncake.jsonl", MOONCAKE, lambda p, tmp: ["run", "--model", "llama-2-7b", "--trace", str(p),
                                                         "--requests", "2"]),
        Seed("sweep.toml", SWEEP, lambda p, tmp: ["sweep", str(p), "--backend", "serial", "--out",
                                                  str(tmp / "sweep-out"), "--no-progress", "--json"]),
        Seed("result.json", run_json, lambda p, tmp: ["roofline", "--context", "2048", "--run", str(p), "--json"]),
        Seed("set", "serving.max_batch_tokens=4096", lambda p, tmp: [*RUN, "--set", p.read_text("utf-8")]),
    ]


SEEDS = {seed.name: seed for seed in seeds()}
