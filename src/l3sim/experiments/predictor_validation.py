"""The L3 scheduler's predictors against the cost model they learn: relative error on a held-out split.

This sits above ``serving`` (it builds a whole system to draw samples from), which is why it is not in
``serving.predictors``: the predictors are what the L3 scheduler imports, and a predictor package that
built systems would make ``systems -> schedulers -> predictors -> systems`` a cycle.
``l3sim validate predictors`` prints it (docs/scheduler.md).
"""

from __future__ import annotations

import numpy as np

from l3sim.errors import ConfigError
from l3sim.serving.predictors import GPUTimePredictor, OnlinePredictor, PIMTimePredictor, SamplingRanges, draw_samples
from l3sim.serving.systems import build_system
from l3sim.spec.run import build_run_spec


def relative_error_summary(predicted: np.ndarray, actual: np.ndarray) -> dict[str, float]:
    """|predicted / actual - 1| over points with a positive actual: mean, median, p99, max, and the count."""
    actual = np.asarray(actual, dtype=np.float64)
    keep = actual > 0
    errors = np.abs(np.asarray(predicted, dtype=np.float64)[keep] / actual[keep] - 1.0)
    if errors.size == 0:
        return {"points": 0, "mean": float("nan"), "median": float("nan"), "p99": float("nan"), "max": float("nan")}
    return {
        "points": int(errors.size),
        "mean": float(errors.mean()),
        "median": float(np.median(errors)),
        "p99": float(np.quantile(errors, 0.99)),
        "max": float(errors.max()),
    }


def split_error(predictor: OnlinePredictor, X: np.ndarray, y: np.ndarray, train_fraction: float,
                rng: np.random.Generator) -> dict[str, float]:
    """Fit on a random ``train_fraction`` of the rows, return the relative error on the rest."""
    if not 0 < train_fraction < 1:
        raise ConfigError(f"train_fraction must be in (0, 1) (got {train_fraction})")
    order = rng.permutation(y.size)
    cut = int(round(train_fraction * y.size))
    train, test = order[:cut], order[cut:]
    predictor.fit(X[train], y[train])
    return relative_error_summary(predictor.predict(X[test]), y[test])


def validate_predictors(model: str, samples: int = 1000, train_fraction: float = 0.8, seed: int = 0) -> dict:
    """Both predictors' held-out relative error for ``model`` on the paper's platform (DGX-A100, L3 DIMM-PIM,
    OpenR1 lengths): ``samples`` points from the l3 system, split ``train_fraction`` : rest."""
    spec = build_run_spec(platform="dgx-a100", model=model, workload="openr1", system="l3")
    system = build_system(spec)
    capacity_tokens = system.kv_capacity_bytes / system.kv_bytes_per_token
    ranges = SamplingRanges.for_run(spec, capacity_tokens)
    data = draw_samples(system, ranges, samples, np.random.default_rng(seed))
    return {
        "model": model,
        "samples": samples,
        "train_fraction": train_fraction,
        "ranges": ranges.__dict__,
        "gpu": split_error(GPUTimePredictor(seed=seed), data.gpu_X, data.gpu_y, train_fraction,
                           np.random.default_rng(seed + 1)),
        "pim": split_error(PIMTimePredictor(), data.pim_X, data.pim_y, train_fraction, np.random.default_rng(seed + 1)),
    }
