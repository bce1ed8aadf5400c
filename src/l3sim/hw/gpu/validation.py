"""The GPU cost model's error against measured timings (Vidur profiles), per point and summarised.

MLP layers: for every ``*_mlp.csv`` the model shape is taken from the file
itself, the chosen source's (``roofline`` or ``calibrated``) per-layer time of
each kernel is computed at every measured (TP degree, token count), and the
relative error ``model / measured - 1`` (measured = the kernel's median) is
kept per point and summarised per file, TP degree and token-count bucket:
signed mean (bias), mean of absolute values (MAPE) and largest absolute
value. ``fc`` = QKV + output projection + FFN (up, activation, down);
``other`` = norms, rotary embedding and residual add (the roofline has none);
``layer`` = fc + other against the whole measured layer.

All-reduce: the ring model (the platform's latency and bus efficiency, or the
GPUCostSpec overrides) against the NCCL medians of one node, per TP degree and
message-size bucket, beside the floor no model nondecreasing in message size
can beat on the same points (hw/gpu/noise_floor.py: the measured medians
below 1 MiB are not monotone in size).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from l3sim.errors import ConfigError
from l3sim.hw.gpu import attacc
from l3sim.hw.gpu.attacc import AttAccGPUModel
from l3sim.hw.gpu.attention_validation import attention_points
from l3sim.hw.gpu.calibrated import CalibratedOperators
from l3sim.hw.gpu.collectives import all_reduce_link, ring_all_reduce_time_s, within_node
from l3sim.hw.gpu.measured import VIDUR_KERNELS
from l3sim.hw.gpu.noise_floor import monotone_fit
from l3sim.hw.gpu.operators import layer_operators, other_operators
from l3sim.hw.gpu.profile_points import (FC_KERNELS, VIDUR_TO_OPERATOR, ProfilePoints, find_profiles,
                                         load_profile_points)
from l3sim.hw.gpu.roofline import OperatorRoofline, Roofline
from l3sim.hw.profiles import load_vidur_all_reduce_csv
from l3sim.spec.platform import GPUSpec, PlatformSpec
from l3sim.spec.run import GPUCostSpec

# (label, lowest, highest) inclusive.
TOKEN_BUCKETS = (("1-128", 1, 128), ("129-512", 129, 512), ("513-4096", 513, 4096), (">4096", 4097, np.inf))
SIZE_BUCKETS_BYTES = (("<=1 MiB", 0, 2**20), ("1-16 MiB", 2**20 + 1, 2**24), (">16 MiB", 2**24 + 1, np.inf))
MIB = 2**20
ERROR_COLUMNS = ["n", "mean_err", "mean_abs_err", "max_abs_err"]
VALIDATED_SOURCES = ("calibrated", "roofline", "attacc")


def _summary(relative_error) -> dict[str, float]:
    e = np.asarray(relative_error, dtype=float)
    return {"n": int(e.size), "mean_err": float(e.mean()), "mean_abs_err": float(np.abs(e).mean()),
            "max_abs_err": float(np.abs(e).max())}


class AttAccKernels:
    """The AttAcc model's layer operators under the Vidur kernel names the comparison uses.

    AttAcc times the FFN's GEMMs as one figure, reported under ``ffn_up``
    (``ffn_down`` is 0), so only the FFN group and the FC sum compare like
    with like; its two norms are split evenly; it has no rotary embedding or
    residual add.
    """

    names = ("qkv_proj", "out_proj", "ffn_up", "ffn_act", "ffn_down", "input_norm", "post_norm")

    def __init__(self, model, gpu: GPUSpec, tp: int) -> None:
        self._model = AttAccGPUModel(model, gpu, tp)

    def times_s(self, num_tokens) -> np.ndarray:
        ops = {k: np.asarray(v, dtype=float) for k, v in self._model.layer_op_times_s(num_tokens).items()}
        half_norm = ops["norm"] / 2.0
        columns = (ops["qkv_proj"], ops["out_proj"], ops["ffn"], ops["activation"], np.zeros_like(half_norm),
                   half_norm, half_norm)
        return np.stack(columns, axis=-1)


def kernel_model(points: ProfilePoints, tp: int, gpu: GPUSpec, cost: GPUCostSpec):
    """The operator model of ``cost.cost_source`` for one profile's shape at ``tp`` (``times_s``, ``names``)."""
    model = points.model
    if cost.cost_source == "roofline":
        return OperatorRoofline(layer_operators(model, tp), Roofline.of(gpu, cost))
    if cost.cost_source == "calibrated":
        return CalibratedOperators(layer_operators(model, tp) + other_operators(model, tp), gpu)
    if cost.cost_source == "attacc":
        return AttAccKernels(model, gpu, tp)
    raise ConfigError(
        f"validate gpu compares one of the sources {', '.join(VALIDATED_SOURCES)} with the profiles; "
        f"got cost_source {cost.cost_source!r}"
    )


def kernel_predictions(points: ProfilePoints, tp: int, gpu: GPUSpec, cost: GPUCostSpec) -> pd.DataFrame:
    """Modelled per-layer time (s) of each measured Vidur kernel at ``tp``; 0 for a kernel the model leaves out."""
    tokens, measured = points.by_tp[tp]
    model = kernel_model(points, tp, gpu, cost)
    times = model.times_s(tokens)
    columns = {}
    for kernel in measured.columns:
        name = VIDUR_TO_OPERATOR[kernel]
        columns[kernel] = times[:, model.names.index(name)] if name in model.names else np.zeros(tokens.size)
    return pd.DataFrame(columns, index=measured.index)


def point_rows(points: ProfilePoints, gpu: GPUSpec, cost: GPUCostSpec) -> list[dict]:
    """One row per measured (tp, tokens): modelled and measured FC sum and layer (s), and the FC error."""
    rows = []
    for tp, (tokens, measured) in points.by_tp.items():
        predicted = kernel_predictions(points, tp, gpu, cost)
        others = [k for k in measured.columns if k not in FC_KERNELS]
        fc_model, fc_measured = predicted[list(FC_KERNELS)].sum(axis=1), measured[list(FC_KERNELS)].sum(axis=1)
        layer_model = fc_model + predicted[others].sum(axis=1)
        layer_measured = fc_measured + measured[others].sum(axis=1)
        for i, n in enumerate(tokens):
            rows.append({"file": points.file, "tp": tp, "tokens": int(n), "fc_model_s": float(fc_model.iloc[i]),
                         "fc_measured_s": float(fc_measured.iloc[i]),
                         "fc_err": float(fc_model.iloc[i] / fc_measured.iloc[i] - 1.0),
                         "layer_model_s": float(layer_model.iloc[i]), "layer_measured_s": float(layer_measured.iloc[i])})
    return rows


def summary_rows(points: ProfilePoints, gpu: GPUSpec, cost: GPUCostSpec) -> list[dict]:
    """Error rows (file, tp, tokens bucket, operator, n, mean_err, mean_abs_err, max_abs_err) of one profile."""
    rows = []
    for tp, (tokens, measured) in points.by_tp.items():
        predicted = kernel_predictions(points, tp, gpu, cost)
        others = [k for k in measured.columns if k not in FC_KERNELS]
        compare = {g: (predicted[list(ks)].sum(axis=1), measured[list(ks)].sum(axis=1)) for g, ks in VIDUR_KERNELS.items()}
        compare["fc"] = (predicted[list(FC_KERNELS)].sum(axis=1), measured[list(FC_KERNELS)].sum(axis=1))
        if others and predicted[others].to_numpy().any():
            compare["other"] = (predicted[others].sum(axis=1), measured[others].sum(axis=1))
        compare["layer"] = (compare["fc"][0] + predicted[others].sum(axis=1), compare["fc"][1] + measured[others].sum(axis=1))
        for label, low, high in TOKEN_BUCKETS:
            inside = (tokens >= low) & (tokens <= high)
            if not inside.any():
                continue
            for op, (model_s, observed_s) in compare.items():
                error = model_s.to_numpy()[inside] / observed_s.to_numpy()[inside] - 1.0
                rows.append({"file": points.file, "tp": tp, "tokens": label, "operator": op, **_summary(error)})
    return rows


def all_reduce_points(path: str | Path, platform: PlatformSpec, cost: GPUCostSpec) -> pd.DataFrame:
    """Per within-node NCCL point: tp, size_bytes, measured_s, model_s (ring model), err."""
    table = within_node(load_vidur_all_reduce_csv(path))
    bw, latency = all_reduce_link(platform, cost)
    frames = []
    for tp, group in table.groupby("num_workers"):
        size = group["size_bytes"].to_numpy(dtype=float)
        if cost.cost_source == "attacc":
            model = attacc.all_reduce_time_s(size, int(tp), platform.gpu.nvlink_bw_bytes_per_s)
        else:
            model = ring_all_reduce_time_s(size, int(tp), bw, latency)
        frames.append(pd.DataFrame({"tp": int(tp), "size_bytes": size, "measured_s": group["median_s"].to_numpy(),
                                    "model_s": model}))
    points = pd.concat(frames, ignore_index=True)
    points["err"] = points["model_s"] / points["measured_s"] - 1.0
    return points


def all_reduce_summary_rows(points: pd.DataFrame) -> list[dict]:
    """Error rows (tp, size bucket, n, errors) of the ring model."""
    rows = []
    for tp, group in points.groupby("tp"):
        for label, low, high in SIZE_BUCKETS_BYTES:
            inside = (group["size_bytes"] >= low) & (group["size_bytes"] <= high)
            if inside.any():
                rows.append({"tp": int(tp), "size": label, **_summary(group["err"][inside])})
    return rows


def attention_summary(points: pd.DataFrame) -> tuple[dict[str, float], list[dict]]:
    """Of ``attention_points``: MAPE per kind (decode, prefill), and per (file, tp, kind) the error summary."""
    mape = {kind: _mape(group["err"]) for kind, group in points.groupby("kind")}
    rows = [{"file": file, "tp": int(tp), "kind": kind, **_summary(group["err"])}
            for (file, tp, kind), group in points.groupby(["file", "tp", "kind"])]
    return mape, rows


def _monotone_floor(points: pd.DataFrame) -> float | None:
    """MAPE of the best fit nondecreasing in message size, per TP degree, over ``points`` together."""
    errors = []
    for _, group in points.groupby("tp"):
        measured, fit = monotone_fit(group["size_bytes"], group["measured_s"])
        errors.append(fit / measured - 1.0)
    return _mape(np.concatenate(errors)) if errors else None


def _mape(errors) -> float | None:
    e = np.abs(np.asarray(errors, dtype=float))
    return float(e.mean()) if e.size else None


def fc_mape_summary(rows: list[dict]) -> dict:
    """FC-sum MAPE overall, per token bucket, per TP degree and the worst (TP, bucket) cell; and the whole
    layer's MAPE (FC plus the norms, rotary embedding and residual add the profile measures)."""
    frame = pd.DataFrame(rows)
    bucket = pd.Series("", index=frame.index)
    for label, low, high in TOKEN_BUCKETS:
        bucket[(frame["tokens"] >= low) & (frame["tokens"] <= high)] = label
    frame["bucket"] = bucket
    by_bucket = {label: _mape(frame.loc[frame["bucket"] == label, "fc_err"]) for label, _, _ in TOKEN_BUCKETS}
    cells = frame.groupby(["tp", "bucket"])["fc_err"].apply(lambda e: float(np.abs(e).mean()))
    return {
        "fc_mape": _mape(frame["fc_err"]),
        "fc_mape_by_bucket": {k: v for k, v in by_bucket.items() if v is not None},
        "fc_mape_by_tp": {str(tp): _mape(g["fc_err"]) for tp, g in frame.groupby("tp")},
        "fc_mape_worst_cell": {"tp": int(cells.idxmax()[0]), "tokens": cells.idxmax()[1], "mape": float(cells.max())},
        "layer_mape": _mape(frame["layer_model_s"] / frame["layer_measured_s"] - 1.0),
    }


def validate_gpu(profiles_dir: str | Path, platform: PlatformSpec, cost: GPUCostSpec, pattern: str = "*_mlp.csv") -> dict:
    """Errors of every profile in ``profiles_dir`` matching ``pattern`` (and of its all-reduce file, if any)."""
    folder = Path(profiles_dir)
    if not folder.is_dir():
        raise ConfigError(f"profiles directory not found: {folder}")
    files = find_profiles(folder, pattern)
    if not files:
        raise ConfigError(f"{folder}: no files match {pattern!r}")
    gpu = platform.gpu
    profiles = [load_profile_points(f) for f in files]
    rows = [row for p in profiles for row in point_rows(p, gpu, cost)]
    reduce_files = sorted(folder.glob("*all_reduce*.csv"))
    reduce_points = pd.concat([all_reduce_points(f, platform, cost) for f in reduce_files]) if reduce_files else None
    result = {"gpu": gpu.name, "cost_source": cost.cost_source, **fc_mape_summary(rows),
              "allreduce_mape": None, "allreduce_mape_by_size": {}, "allreduce_floor_by_size": {}}
    if reduce_points is not None:
        small = reduce_points["size_bytes"] <= MIB
        result["allreduce_mape"] = _mape(reduce_points["err"])
        result["allreduce_mape_by_size"] = {"<=1 MiB": _mape(reduce_points["err"][small]),
                                            ">1 MiB": _mape(reduce_points["err"][~small])}
        result["allreduce_floor_by_size"] = {"<=1 MiB": _monotone_floor(reduce_points[small]),
                                             ">1 MiB": _monotone_floor(reduce_points[~small])}
    result["attention_mape"], result["attention"] = {}, []
    attention_files = sorted(folder.glob("*_attention.csv"))
    if attention_files:
        points = pd.concat([attention_points(f, platform, cost) for f in attention_files], ignore_index=True)
        result["attention_mape"], result["attention"] = attention_summary(points)
    result["rows"] = rows
    result["mlp"] = [row for p in profiles for row in summary_rows(p, gpu, cost)]
    result["all_reduce"] = all_reduce_summary_rows(reduce_points) if reduce_points is not None else []
    return result


def summary_line(result: dict) -> str:
    """The one-line summary `l3sim validate gpu` prints first."""
    buckets = ", ".join(f"{k} {v:.1%}" for k, v in result["fc_mape_by_bucket"].items())
    worst = result["fc_mape_worst_cell"]
    line = (f"{result['cost_source']} on {result['gpu']}: FC-sum MAPE {result['fc_mape']:.1%} ({buckets}; "
            f"worst TP{worst['tp']} {worst['tokens']} {worst['mape']:.1%}); layer MAPE {result['layer_mape']:.1%}")
    if result["allreduce_mape"] is not None:
        sizes = ", ".join(f"{k} {v:.1%}" for k, v in result["allreduce_mape_by_size"].items() if v is not None)
        floors = ", ".join(f"{k} {v:.1%}" for k, v in result["allreduce_floor_by_size"].items() if v is not None)
        line += f"; all-reduce MAPE {result['allreduce_mape']:.1%} ({sizes}; best monotone fit {floors})"
    if result.get("attention_mape"):
        kinds = ", ".join(f"{kind} {value:.1%}" for kind, value in result["attention_mape"].items())
        line += f"; attention MAPE {kinds}"
    return line
