"""Fitting the calibrated model's efficiencies (GPUCalibrationSpec) and the all-reduce parameters.

Kernel fit: least squares (scipy.optimize.least_squares, trust-region
reflective, within the fields' bounds) of the relative error model / measured
- 1 of every measured kernel (the five FC kernels and the norms, rotary
embedding and residual add where the file has them) at every (TP degree,
token count) of the given profiles, over the parameters in
``FITTED_FIELDS``; the rest (flash_attention_efficiency,
split_kv_tokens) stay as they are. Relative error weighs a 10 us kernel like
a 10 ms one, as the token-bucket MAPE targets do.

All-reduce fit: latency and bus efficiency of the ring model, least squares
of the relative error over the within-node NCCL points above
``ALL_REDUCE_FIT_MIN_BYTES`` (1 MiB). Below it the DGX-A100 medians are
bimodal (about 16 or 60 us for the same size), which no latency follows;
fitting them too pulls the large-message error from 7 % to 10 %.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from l3sim.errors import ConfigError
from l3sim.hw.gpu.calibrated import CalibratedOperators
from l3sim.hw.gpu.collectives import within_node
from l3sim.hw.gpu.operators import layer_operators, other_operators
from l3sim.hw.gpu.profile_points import VIDUR_TO_OPERATOR, ProfilePoints
from l3sim.spec.gpu_calibration import FITTED_FIELDS, GPUCalibrationSpec
from l3sim.spec.platform import GPUSpec

# Search box and typical magnitude (least_squares' x_scale) of each fitted field, FITTED_FIELDS order.
_LOWER = np.array([0.05, 0.05, 0.05, 1.0, 0.0, 0.0, 0.1, 0.02, 10.0])
_UPPER = np.array([1.0, 1.0, 1.0, 20.0, 5e-5, 5e-5, 1000.0, 1.0, 1e5])
_SCALE = np.array([0.1, 0.1, 0.1, 1.0, 1e-6, 1e-6, 1.0, 0.1, 100.0])
ALL_REDUCE_FIT_MIN_BYTES = 2**20


def _with(calibration: GPUCalibrationSpec, values: np.ndarray) -> GPUCalibrationSpec:
    return calibration.model_copy(update={name: float(v) for name, v in zip(FITTED_FIELDS, values)})


def _fit_cases(profiles: list[ProfilePoints]) -> list[tuple[list, np.ndarray, list[int], np.ndarray]]:
    """Per (profile, tp): operators, token counts, the operator index of each measured kernel, measured times."""
    cases = []
    for points in profiles:
        for tp, (tokens, measured) in points.by_tp.items():
            operators = list(layer_operators(points.model, tp) + other_operators(points.model, tp))
            names = [op.name for op in operators]
            columns = [k for k in measured.columns if VIDUR_TO_OPERATOR[k] in names]
            index = [names.index(VIDUR_TO_OPERATOR[k]) for k in columns]
            cases.append((operators, tokens, index, measured[columns].to_numpy()))
    return cases


def fit_calibration(profiles: list[ProfilePoints], gpu: GPUSpec) -> tuple[GPUCalibrationSpec, float]:
    """Least-squares calibration of ``gpu`` on ``profiles``; returns it and the RMS relative kernel error."""
    from scipy.optimize import least_squares

    if not profiles:
        raise ConfigError("the calibration fit needs at least one profile")
    cases = _fit_cases(profiles)

    def residuals(values: np.ndarray) -> np.ndarray:
        calibration = _with(gpu.calibration, values)
        parts = []
        for operators, tokens, index, measured in cases:
            model = CalibratedOperators(operators, gpu, calibration).times_s(tokens)[:, index]
            parts.append((model / measured - 1.0).ravel())
        return np.concatenate(parts)

    start = np.clip([getattr(gpu.calibration, name) for name in FITTED_FIELDS], _LOWER, _UPPER)
    result = least_squares(residuals, start, bounds=(_LOWER, _UPPER), x_scale=_SCALE)
    return _with(gpu.calibration, result.x), float(np.sqrt(np.mean(result.fun**2)))


def fit_all_reduce(table: pd.DataFrame, gpu: GPUSpec) -> tuple[float, float]:
    """(latency s, bus efficiency) of the ring model: least squares of relative error, one node, > 1 MiB."""
    from scipy.optimize import least_squares

    rows = within_node(table)
    rows = rows[(rows["num_workers"] > 1) & (rows["size_bytes"] > ALL_REDUCE_FIT_MIN_BYTES)]
    if rows.empty:
        raise ConfigError("the all-reduce profile has no within-node points with more than one GPU above 1 MiB")
    size = rows["size_bytes"].to_numpy(dtype=float)
    workers = rows["num_workers"].to_numpy(dtype=float)
    measured = rows["median_s"].to_numpy(dtype=float)
    per_direction = gpu.nvlink_bw_bytes_per_s / 2.0

    def residuals(x: np.ndarray) -> np.ndarray:
        latency, efficiency = x
        # The ring model of collectives.py, with the worker count per point.
        model = latency + 2.0 * (workers - 1.0) / workers * size / (per_direction * efficiency)
        return model / measured - 1.0

    result = least_squares(residuals, [30e-6, 0.5], bounds=([0.0, 0.01], [1e-3, 1.0]), x_scale=[1e-5, 0.1])
    latency, efficiency = (float(v) for v in result.x)
    return latency, efficiency
