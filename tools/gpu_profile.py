"""Measure a Vidur-format MLP profile of this machine's GPU with torch: the blind check of the GPU model.

The calibrated GPU model (docs/gpu-model.md) was fitted on Vidur's A100 profiles. To check it on a GPU
it was not fitted on, time the dense operators of one transformer layer on that GPU the way Vidur's
profiles hold them, then compare:

    python tools/gpu_profile.py --out profiles-h100          # on the GPU machine (torch only)
    l3sim validate gpu --profiles profiles-h100 --gpu h100-sxm   # here: FC-sum error per bucket and TP

Standalone on purpose: it needs torch and the standard library only (not l3sim's dependencies), so it
runs on a GPU machine that has PyTorch and nothing else; model shapes are read from l3sim's model
preset TOMLs. Each operator of one layer runs alone on the weight shard of one GPU of a TP group
(column-parallel QKV and up projections, row-parallel output and down projections: N or K divided by
tp), with CUDA events around each repetition, as Vidur's profiler times them; per (tokens, tp) the file
keeps min, max, mean, median and std in milliseconds under ``time_stats.<operator>.<stat>``. Like
Vidur's, repetitions run back to back (a small shard's weights can stay in L2 between them).

Attention too, per model and TP degree, into ``<model>_attention.csv`` (Vidur's attention-profile columns:
``batch_size, prefill_chunk_size, kv_cache_size, is_prefill`` and ``time_stats.attn_decode.*`` or
``time_stats.attn_prefill.*``): decode of ``batch`` requests of one query token against ``context`` cached
tokens each, and causal prefill of a chunk after ``done`` cached tokens (lower-right causal mask), both by
torch's ``scaled_dot_product_attention`` (FlashAttention-2 kernels on a recent GPU) on one GPU's heads,
one layer. vLLM's paged, split-KV decode kernel may differ from torch's dense one; ``device.json`` says
which torch ran. Points whose K and V would exceed ``--attention-max-gb`` are skipped (said so).

What it does not measure: all-reduce (one GPU; a Vidur-format all-reduce profile needs a node of
several GPUs). Where vLLM runs fused kernels (rotary, SiLU-and-multiply), eager torch runs a few
elementwise kernels: ``attn_rope`` and ``mlp_act`` are upper bounds of vLLM's.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
import sys
import time
import tomllib
from pathlib import Path

PRESETS = Path(__file__).resolve().parents[1] / "src" / "l3sim" / "presets" / "models"
# The four models of the shipped A100 profiles (Vidur's Llama-2-70B, Llama-2-7B, Llama-3-8B, Qwen-72B).
DEFAULT_MODELS = ("llama-2-70b", "llama-2-7b", "llama-3-8b", "qwen-72b")
# Vidur's profile operators, in its column order; the first five of VIDUR's FC set are the projections + act.
OPERATORS = ("emb", "input_layernorm", "attn_pre_proj", "attn_rope", "attn_post_proj", "post_attention_layernorm",
             "mlp_up_proj", "mlp_act", "mlp_down_proj", "add")
STATS = ("min", "max", "mean", "median", "std")
SHAPE_COLUMNS = ("n_head", "n_kv_head", "n_embd", "n_expanded_embd", "vocab_size", "use_gated_mlp")


# Attention points: decode (batch, context) and prefill (chunk, done), a grid over the serving runs' range.
DEFAULT_DECODE = "1:512,1:8192,8:2048,8:32768,32:512,32:8192,128:2048,128:8192"
DEFAULT_PREFILL = "128:0,512:0,2048:0,512:2048,512:8192,2048:8192"
ATTENTION_COLUMNS = ("n_embd", "n_q_head", "n_kv_head", "num_tensor_parallel_workers", "batch_size",
                     "prefill_chunk_size", "kv_cache_size", "is_prefill", "head_dim")  # head_dim: not Vidur's


def pairs(text: str) -> list[tuple[int, int]]:
    """``"a:b,c:d"`` as [(a, b), (c, d)] (non-negative integers)."""
    out = []
    for item in filter(None, text.split(",")):
        first, sep, second = item.partition(":")
        if not sep or not first.isdigit() or not second.isdigit():
            raise SystemExit(f"expected pairs like 8:2048 (comma-separated), got {item!r}")
        out.append((int(first), int(second)))
    return out


def attention_call(torch, q, k, v, causal: dict):
    """One layer's attention of ``q`` against ``k, v`` (query heads a multiple of KV heads); ``causal``: the
    masking arguments of ``scaled_dot_product_attention``."""
    f = torch.nn.functional
    if k.shape[1] == q.shape[1]:
        return f.scaled_dot_product_attention(q, k, v, **causal)
    try:
        return f.scaled_dot_product_attention(q, k, v, enable_gqa=True, **causal)
    except TypeError:  # a torch before 2.5: repeat the KV heads instead
        group = q.shape[1] // k.shape[1]
        return f.scaled_dot_product_attention(q, k.repeat_interleave(group, 1), v.repeat_interleave(group, 1),
                                              **causal)


def causal_arguments(torch, queries: int, keys: int, device: str) -> dict:
    """Query i sees every key up to ``keys - queries + i`` (the cached tokens and the new ones up to itself):
    none for one query, ``is_causal`` without cached tokens, else a lower-right causal bias (a boolean mask on
    a torch without ``torch.nn.attention.bias``); the forms the flash kernels accept where they can."""
    if queries == 1:
        return {}
    if queries == keys:
        return {"is_causal": True}
    try:
        from torch.nn.attention.bias import causal_lower_right
    except ImportError:
        mask = torch.ones(queries, keys, device=device, dtype=torch.bool).tril(diagonal=keys - queries)
        return {"attn_mask": mask}
    return {"attn_mask": causal_lower_right(queries, keys)}


def attention_operator(torch, heads: int, kv: int, d: int, batch: int, queries: int, cached: int, device: str,
                       dtype):
    """A no-argument callable: ``batch`` sequences of ``queries`` new tokens attend, causally, over ``cached``
    earlier ones and themselves."""
    keys = cached + queries
    q = torch.randn(batch, heads, queries, d, device=device, dtype=dtype)
    k = torch.randn(batch, kv, keys, d, device=device, dtype=dtype)
    v = torch.randn(batch, kv, keys, d, device=device, dtype=dtype)
    causal = causal_arguments(torch, queries, keys, device)
    return lambda: attention_call(torch, q, k, v, causal)


def profile_attention(torch, shape: dict, tps: list[int], args, deadline: float) -> list[dict]:
    """The attention profile's rows for one model: decode and prefill points per TP degree."""
    rows, dtype = [], getattr(torch, args.dtype)
    element = torch.tensor([], dtype=dtype).element_size()
    points = [(b, 1, c, False) for b, c in pairs(args.decode)] + [(1, c, d, True) for c, d in pairs(args.prefill)]
    for tp in tps:
        if shape["heads"] % tp or shape["kv_heads"] % tp:
            continue
        _, heads, kv, d, _ = per_gpu(shape, tp)
        for batch, queries, cached, prefill in points:
            if time.monotonic() > deadline:
                print(f"  {shape['name']}: time budget spent in attention at tp={tp}", flush=True)
                return rows
            kv_bytes = 2 * batch * kv * (cached + queries) * d * element
            if kv_bytes > args.attention_max_gb * 1e9:
                print(f"  {shape['name']} tp={tp}: attention of {batch} x {cached} tokens skipped "
                      f"({kv_bytes / 1e9:.0f} GB of K and V)", flush=True)
                continue
            row = {"n_embd": shape["hidden"], "n_q_head": shape["heads"], "n_kv_head": shape["kv_heads"],
                   "num_tensor_parallel_workers": tp, "batch_size": batch, "prefill_chunk_size": queries if prefill
                   else 0, "kv_cache_size": cached, "is_prefill": prefill, "head_dim": d}
            with torch.inference_mode():
                op = attention_operator(torch, heads, kv, d, batch, queries, cached, args.device, dtype)
                kind = "attn_prefill" if prefill else "attn_decode"
                for stat, value in stats(time_ms(torch, op, args.device, args.warmup, args.repeats)).items():
                    row[f"time_stats.{kind}.{stat}"] = value
            rows.append(row)
    print(f"  {shape['name']}: {len(rows)} attention points", flush=True)
    return rows


def default_tokens() -> list[int]:
    """Vidur's token grid, thinned: 1, 2, 4, then every 8 up to 512 (the 129-512 band), every 32 to 4096."""
    return [1, 2, 4, *range(8, 513, 8), *range(544, 4097, 32)]


def model_shape(name: str) -> dict:
    """A model's dimensions from an l3sim model preset name or model TOML path (ModelSpec's defaults for absent
    fields); profiles are named after the preset or the TOML file's stem."""
    path = Path(name) if name.endswith(".toml") else PRESETS / f"{name}.toml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in PRESETS.glob("*.toml")))
        raise SystemExit(f"unknown model {name!r}: no {path}; known presets: {known}")
    data = tomllib.loads(path.read_text())
    return {"name": path.stem, "hidden": data["hidden_size"], "heads": data["num_heads"], "kv_heads": data["num_kv_heads"],
            "head_dim": data.get("head_dim", 128), "ffn": data["ffn_hidden_size"],
            "gated": bool(data.get("gated_ffn", False)), "activation": data.get("activation", "gelu"),
            "vocab": data["vocab_size"], "bias": bool(data.get("linear_bias", False)),
            "qkv_bias": bool(data.get("qkv_bias", False) or data.get("linear_bias", False)),
            "rope": data.get("learned_positions", 0) == 0}


def per_gpu(shape: dict, tp: int) -> tuple[int, int, int, int, int]:
    """(hidden, query heads, KV heads, head dim, FFN width) on one GPU of a TP group."""
    return shape["hidden"], shape["heads"] // tp, shape["kv_heads"] // tp, shape["head_dim"], shape["ffn"] // tp


def shard_weights(torch, shape: dict, tp: int, device: str, dtype) -> dict:
    """One GPU's weights of one layer under ``tp``-way tensor parallelism (random: timing does not look)."""
    h, heads, kv, d, ffn = per_gpu(shape, tp)
    up = (2 if shape["gated"] else 1) * ffn

    def tensor(*size):
        return torch.randn(*size, device=device, dtype=dtype) * 0.02

    def bias(size, present):
        return tensor(size) if present else None

    return {"table": tensor(shape["vocab"] // tp, h), "norm_w": tensor(h) + 1, "norm_b": tensor(h),
            "qkv": tensor((heads + 2 * kv) * d, h), "qkv_b": bias((heads + 2 * kv) * d, shape["qkv_bias"]),
            "o": tensor(h, heads * d), "o_b": bias(h, shape["bias"]),
            "up": tensor(up, h), "up_b": bias(up, shape["bias"]),
            "down": tensor(h, ffn), "down_b": bias(h, shape["bias"])}


def layer_operators(torch, shape: dict, tp: int, tokens: int, weights: dict, device: str, dtype) -> dict:
    """One layer's operators over ``tokens`` rows on one GPU's shard, each a no-argument callable."""
    f, w = torch.nn.functional, weights
    h, heads, kv, d, ffn = per_gpu(shape, tp)

    def tensor(*size):
        return torch.randn(*size, device=device, dtype=dtype) * 0.02

    x, residual, attn_out = tensor(tokens, h), tensor(tokens, h), tensor(tokens, heads * d)
    up, mid = tensor(tokens, w["up"].shape[0]), tensor(tokens, ffn)
    ids = torch.randint(0, w["table"].shape[0], (tokens,), device=device)
    q, k = tensor(tokens, heads, d), tensor(tokens, kv, d)
    angle = torch.arange(tokens, device=device, dtype=torch.float32)[:, None] * torch.ones(d, device=device)
    cos, sin = angle.cos()[:, None, :].to(dtype), angle.sin()[:, None, :].to(dtype)

    def norm():
        if shape["bias"]:  # GPT/OPT style LayerNorm; Llama/Qwen RMSNorm
            return f.layer_norm(x, (h,), w["norm_w"], w["norm_b"])
        return f.rms_norm(x, (h,), w["norm_w"])

    def rotate(t):
        half = t.shape[-1] // 2
        return t * cos + torch.cat((-t[..., half:], t[..., :half]), -1) * sin

    def act():
        if shape["gated"]:
            return f.silu(up[:, :ffn]) * up[:, ffn:]
        return f.relu(up) if shape["activation"] == "relu" else f.gelu(up)

    ops = {
        "emb": lambda: f.embedding(ids, w["table"]),
        "input_layernorm": norm,
        "attn_pre_proj": lambda: f.linear(x, w["qkv"], w["qkv_b"]),
        "attn_rope": (lambda: (rotate(q), rotate(k))) if shape["rope"] else None,
        "attn_post_proj": lambda: f.linear(attn_out, w["o"], w["o_b"]),
        "post_attention_layernorm": norm,
        "mlp_up_proj": lambda: f.linear(x, w["up"], w["up_b"]),
        "mlp_act": act,
        "mlp_down_proj": lambda: f.linear(mid, w["down"], w["down_b"]),
        "add": lambda: x + residual,
    }
    return {name: op for name, op in ops.items() if op is not None}


def time_ms(torch, op, device: str, warmup: int, repeats: int) -> list[float]:
    """Milliseconds of each of ``repeats`` runs of ``op`` after ``warmup`` runs (CUDA events on a GPU)."""
    for _ in range(warmup):
        op()
    if device.startswith("cuda"):
        events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(repeats)]
        for start, end in events:
            start.record()
            op()
            end.record()
        torch.cuda.synchronize()
        return [start.elapsed_time(end) for start, end in events]
    times = []
    for _ in range(repeats):
        begin = time.perf_counter()
        op()
        times.append((time.perf_counter() - begin) * 1e3)
    return times


def stats(values: list[float]) -> dict[str, float]:
    return {"min": min(values), "max": max(values), "mean": statistics.fmean(values),
            "median": statistics.median(values), "std": statistics.pstdev(values)}


def profile_model(torch, shape: dict, tps: list[int], tokens: list[int], args, deadline: float) -> list[dict]:
    """The profile's rows for one model: one per (tp, tokens) measured before ``deadline``."""
    rows = []
    for tp in tps:
        if shape["heads"] % tp or shape["kv_heads"] % tp:
            print(f"  {shape['name']}: tp={tp} does not divide the heads; skipped", flush=True)
            continue
        dtype = getattr(torch, args.dtype)
        weights = shard_weights(torch, shape, tp, args.device, dtype)
        for count in tokens:
            if time.monotonic() > deadline:
                print(f"  {shape['name']}: time budget spent at tp={tp}, {count} tokens; the rest is not measured",
                      flush=True)
                return rows
            row = {"n_head": shape["heads"], "n_kv_head": shape["kv_heads"], "n_embd": shape["hidden"],
                   "n_expanded_embd": shape["ffn"], "vocab_size": shape["vocab"], "use_gated_mlp": shape["gated"],
                   "num_tokens": count, "num_tensor_parallel_workers": tp}
            with torch.inference_mode():
                ops = layer_operators(torch, shape, tp, count, weights, args.device, dtype)
                for name, op in ops.items():
                    for stat, value in stats(time_ms(torch, op, args.device, args.warmup, args.repeats)).items():
                        row[f"time_stats.{name}.{stat}"] = value
            rows.append(row)
        print(f"  {shape['name']} tp={tp}: {len(tokens)} token counts", flush=True)
    return rows


def write_profile(path: Path, rows: list[dict]) -> None:
    """Vidur's column layout: the operators' statistics, then the shape, token and TP columns."""
    columns = [f"time_stats.{op}.{stat}" for op in OPERATORS for stat in STATS
               if rows and f"time_stats.{op}.{stat}" in rows[0]]
    columns += [*SHAPE_COLUMNS, "num_tokens", "num_tensor_parallel_workers"]
    write_rows(path, columns, rows)


def write_attention_profile(path: Path, rows: list[dict]) -> None:
    """Vidur's attention-profile columns: decode and prefill statistics (empty where the row is the other
    kind), then the shape and point columns."""
    columns = [f"time_stats.{kind}.{stat}" for kind in ("attn_prefill", "attn_decode") for stat in STATS]
    write_rows(path, [*columns, *ATTENTION_COLUMNS], rows)


def write_rows(path: Path, columns: list[str], rows: list[dict]) -> None:
    """``rows`` under ``columns`` as CSV, written to a temporary file first and renamed."""
    tmp = path.with_suffix(".csv.tmp")
    with tmp.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True,
                        help="folder for <model>_mlp.csv, <model>_attention.csv and device.json")
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS), help="l3sim model presets or model TOML paths, comma-separated")
    parser.add_argument("--tp", default="1,2,4,8", help="tensor-parallel degrees (weight shards), comma-separated")
    parser.add_argument("--tokens", default=None, help="token counts, comma-separated (default: a Vidur-like grid)")
    parser.add_argument("--repeats", type=int, default=20, help="timed runs per operator and point")
    parser.add_argument("--warmup", type=int, default=5, help="untimed runs first")
    parser.add_argument("--dtype", default="float16", choices=("float16", "bfloat16", "float32"))
    parser.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--budget-s", type=float, default=math.inf,
                        help="stop measuring after this many seconds and write what was measured")
    parser.add_argument("--decode", default=DEFAULT_DECODE, help="decode attention points batch:context, "
                        "comma-separated ('' for none)")
    parser.add_argument("--prefill", default=DEFAULT_PREFILL, help="prefill attention points chunk:done, "
                        "comma-separated ('' for none)")
    parser.add_argument("--attention-max-gb", type=float, default=16.0,
                        help="skip attention points whose K and V exceed this many GB")
    args = parser.parse_args(argv)
    try:
        import torch
    except ImportError:
        print("tools/gpu_profile.py needs torch (pip install torch)", file=sys.stderr)
        return 2
    args.device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    tokens = [int(t) for t in args.tokens.split(",")] if args.tokens else default_tokens()
    tps = [int(t) for t in args.tp.split(",")]
    if args.repeats < 1 or args.warmup < 0 or min(tokens) < 1 or min(tps) < 1:
        parser.error("--repeats, --tokens and --tp must be positive and --warmup non-negative")
    shapes = [model_shape(name.strip()) for name in args.models.split(",")]
    args.out.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + args.budget_s
    info = {"torch": torch.__version__, "device": args.device, "dtype": args.dtype, "repeats": args.repeats,
            "warmup": args.warmup, "models": [s["name"] for s in shapes], "tp": tps}
    if args.device.startswith("cuda"):
        props = torch.cuda.get_device_properties(args.device)
        info.update(gpu=props.name, sms=props.multi_processor_count, memory_bytes=props.total_memory)
    (args.out / "device.json").write_text(json.dumps(info, indent=1) + "\n")
    print(f"profiling on {info.get('gpu', args.device)}: {len(shapes)} models x tp {tps} x {len(tokens)} token counts",
          flush=True)
    # attention first: a few dozen points per model, so a short budget still gets all of them
    for shape in shapes:
        rows = profile_attention(torch, shape, tps, args, deadline)
        if rows:
            write_attention_profile(args.out / f"{shape['name']}_attention.csv", rows)
    for shape in shapes:
        rows = profile_model(torch, shape, tps, tokens, args, deadline)
        if rows:
            write_profile(args.out / f"{shape['name']}_mlp.csv", rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
