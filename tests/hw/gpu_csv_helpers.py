"""Helpers for GPU-model tests: writing small Vidur-format MLP profiles and building run specs."""

from __future__ import annotations

from pathlib import Path

from l3sim.spec.run import build_run_spec

KERNELS = ("attn_pre_proj", "attn_post_proj", "mlp_up_proj", "mlp_act", "mlp_down_proj", "input_layernorm", "add")
STATS = ("min", "max", "mean", "median", "std")
# Llama-2-70B's shape, as the Vidur profile records it.
LLAMA70_SHAPE = {"n_head": 64, "n_kv_head": 8, "n_embd": 8192, "n_expanded_embd": 28672, "vocab_size": 32768,
                 "use_gated_mlp": "True"}


def write_mlp_csv(path: Path, points: dict[tuple[int, int], dict[str, float]], shape: dict | None = None) -> Path:
    """``points[(num_tokens, tp)][kernel] = median ms``; other statistics are set to the median."""
    shape = shape or LLAMA70_SHAPE
    header = [f"time_stats.{k}.{s}" for k in KERNELS for s in STATS] + list(shape) + [
        "num_tokens", "num_tensor_parallel_workers"]
    lines = [",".join(header)]
    for (tokens, tp), medians in points.items():
        cells = [str(medians.get(k, 0.001)) for k in KERNELS for _ in STATS]
        cells += [str(v) for v in shape.values()] + [str(tokens), str(tp)]
        lines.append(",".join(cells))
    path.write_text("\n".join(lines) + "\n")
    return path


def run_spec(model: str = "gpt-175b", overrides: list[str] | None = None, **fields):
    """A RunSpec on the DGX-A100 preset (workload irrelevant to the GPU model)."""
    return build_run_spec(overrides, platform="dgx-a100", model=model, workload="openr1", **fields)


def roofline_spec(model: str = "gpt-175b", overrides: list[str] | None = None, **fields):
    """``run_spec`` with the roofline cost source (the default is the calibrated model), for roofline tests."""
    return run_spec(model, ['gpu.cost_source="roofline"', *(overrides or [])], **fields)
