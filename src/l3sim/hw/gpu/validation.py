"""The roofline's error against measured A100 timings (Vidur profiles), as tables of rows.

MLP layers: for every ``*_mlp.csv`` the model shape is taken from the file
itself (so the comparison is of the same matrices), the roofline's per-layer
time of each operator group is computed at every measured (TP degree, token
count), and the relative error ``roofline / measured - 1`` (measured = the
kernels' median) is summarised per file, TP degree and token-count bucket:
signed mean (bias), mean of absolute values and largest absolute value.
``fc`` is the three groups together; ``layer`` compares ``fc`` with the whole
measured layer (adding norms, rotary embedding and residual adds, which the
roofline leaves out).

All-reduce: the ring model (GPUCostSpec.allreduce_latency_s, nvlink_util)
against the NCCL timings of the all-reduce profile, per TP degree within one
node and message-size bucket.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from l3sim.errors import ConfigError
from l3sim.hw.gpu.collectives import ring_all_reduce_time_s
from l3sim.hw.gpu.measured import VIDUR_KERNELS, VIDUR_OTHER_KERNELS, measured_kernel_times
from l3sim.hw.gpu.operators import LAYER_GROUPS, layer_operators
from l3sim.hw.gpu.roofline import OperatorRoofline, Roofline
from l3sim.hw.profiles import load_vidur_all_reduce_csv, load_vidur_mlp_csv
from l3sim.spec.model import ModelSpec
from l3sim.spec.platform import GPUSpec
from l3sim.spec.run import GPUCostSpec

# (label, lowest, highest) inclusive.
TOKEN_BUCKETS = (("1-16", 1, 16), ("17-128", 17, 128), ("129-512", 129, 512), ("513-2048", 513, 2048),
                 (">2048", 2049, np.inf))
SIZE_BUCKETS_BYTES = (("<=1 MiB", 0, 2**20), ("1-16 MiB", 2**20 + 1, 2**24), (">16 MiB", 2**24 + 1, np.inf))
ERROR_COLUMNS = ["n", "mean_err", "mean_abs_err", "max_abs_err"]


def _summary(relative_error: np.ndarray) -> dict[str, float]:
    e = np.asarray(relative_error, dtype=float)
    return {"n": int(e.size), "mean_err": float(e.mean()), "mean_abs_err": float(np.abs(e).mean()),
            "max_abs_err": float(np.abs(e).max())}


def profile_model(table: pd.DataFrame, name: str) -> ModelSpec:
    """A one-layer ModelSpec with the shape a profile was measured on (one shape per file expected)."""
    shapes = table[["n_head", "n_kv_head", "n_embd", "n_expanded_embd", "vocab_size", "use_gated_mlp"]].drop_duplicates()
    if len(shapes) != 1:
        raise ConfigError(f"{name}: expected one model shape, found {len(shapes)}")
    s = shapes.iloc[0]
    return ModelSpec.parse(
        {"name": name, "num_layers": 1, "hidden_size": int(s.n_embd), "num_heads": int(s.n_head),
         "num_kv_heads": int(s.n_kv_head), "head_dim": int(s.n_embd) // int(s.n_head),
         "ffn_hidden_size": int(s.n_expanded_embd), "gated_ffn": bool(s.use_gated_mlp),
         "vocab_size": int(s.vocab_size)},
        source=f"model shape of {name}",
    )


def mlp_error_rows(path: str | Path, gpu: GPUSpec, cost: GPUCostSpec) -> list[dict]:
    """Error rows (file, tp, tokens bucket, operator, n, mean_err, mean_abs_err, max_abs_err) of one MLP profile."""
    path = Path(path)
    table = load_vidur_mlp_csv(path)
    model = profile_model(table, path.stem)
    kernels = tuple(k for g in LAYER_GROUPS for k in VIDUR_KERNELS[g])
    others = tuple(k for k in VIDUR_OTHER_KERNELS if k in set(table["operator"]))
    measured = measured_kernel_times(table, kernels + others)
    roofline = Roofline.of(gpu, cost)
    rows = []
    for tp in sorted(measured.index.get_level_values("tp").unique()):
        at_tp = measured.loc[tp]
        tokens = at_tp.index.to_numpy(dtype=float)
        model_s = OperatorRoofline(layer_operators(model, int(tp)), roofline).group_times_s(tokens)
        compare = {g: (model_s[:, i], at_tp[list(VIDUR_KERNELS[g])].sum(axis=1).to_numpy())
                   for i, g in enumerate(LAYER_GROUPS)}
        fc_measured = sum(m for _, m in compare.values())
        compare["fc"] = (model_s.sum(axis=1), fc_measured)
        compare["layer"] = (model_s.sum(axis=1), fc_measured + at_tp[list(others)].sum(axis=1).to_numpy())
        for label, low, high in TOKEN_BUCKETS:
            inside = (tokens >= low) & (tokens <= high)
            if not inside.any():
                continue
            for op, (predicted, observed) in compare.items():
                rows.append({"file": path.name, "tp": int(tp), "tokens": label, "operator": op,
                             **_summary(predicted[inside] / observed[inside] - 1.0)})
    return rows


def all_reduce_error_rows(path: str | Path, gpu: GPUSpec, cost: GPUCostSpec) -> list[dict]:
    """Error rows (tp, size bucket, n, errors) of the ring all-reduce model against one node's NCCL timings."""
    table = load_vidur_all_reduce_csv(path)
    within_node = table[table["num_workers"] == table["devices_per_node"]]
    bw = gpu.nvlink_bw_bytes_per_s / 2.0 * cost.nvlink_util
    rows = []
    for tp, group in within_node.groupby("num_workers"):
        size = group["size_bytes"].to_numpy(dtype=float)
        predicted = ring_all_reduce_time_s(size, int(tp), bw, cost.allreduce_latency_s)
        error = predicted / group["median_s"].to_numpy() - 1.0
        for label, low, high in SIZE_BUCKETS_BYTES:
            inside = (size >= low) & (size <= high)
            if inside.any():
                rows.append({"tp": int(tp), "size": label, **_summary(error[inside])})
    return rows


def validate_gpu(profiles_dir: str | Path, gpu: GPUSpec, cost: GPUCostSpec, pattern: str = "*_mlp.csv") -> dict:
    """Both error tables for every profile in ``profiles_dir`` matching ``pattern`` (and its all-reduce file)."""
    folder = Path(profiles_dir)
    if not folder.is_dir():
        raise ConfigError(f"profiles directory not found: {folder}")
    files = sorted(folder.glob(pattern))
    if not files:
        raise ConfigError(f"{folder}: no files match {pattern!r}")
    mlp = [row for f in files for row in mlp_error_rows(f, gpu, cost)]
    reduce_files = sorted(folder.glob("*all_reduce*.csv"))
    reduce = [row for f in reduce_files for row in all_reduce_error_rows(f, gpu, cost)]
    return {"gpu": gpu.name, "compute_util": cost.compute_util, "mem_util": cost.mem_util,
            "allreduce_latency_s": cost.allreduce_latency_s, "nvlink_util": cost.nvlink_util,
            "mlp": mlp, "all_reduce": reduce}
