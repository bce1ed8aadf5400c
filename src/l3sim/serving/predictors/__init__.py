"""Latency predictors the L3 scheduler consults (paper: linear for PIM, random forest for GPU).

Both share one scikit-learn-like interface (``fit``, ``predict``, ``update``,
``feature_names``); the rows are built by ``pim_features`` / ``gpu_features``.
``train_predictors`` draws samples from a StageTimes and fits both;
``validate_predictors`` reports their relative error on a held-out split.
"""

from l3sim.serving.predictors.base import OnlinePredictor
from l3sim.serving.predictors.features import (
    GPU_FEATURES,
    PIM_FEATURES,
    gpu_feature_row,
    gpu_feature_rows,
    gpu_features,
    pim_features,
)
from l3sim.serving.predictors.gpu import GPUTimePredictor
from l3sim.serving.predictors.pim import PIMTimePredictor
from l3sim.serving.predictors.stage_times import StageTimes
from l3sim.serving.predictors.training import (
    SamplingRanges,
    Samples,
    draw_samples,
    relative_error_summary,
    split_error,
    train,
    validate_predictors,
)

__all__ = [
    "GPUTimePredictor",
    "GPU_FEATURES",
    "OnlinePredictor",
    "PIMTimePredictor",
    "PIM_FEATURES",
    "SamplingRanges",
    "Samples",
    "StageTimes",
    "draw_samples",
    "gpu_feature_row",
    "gpu_feature_rows",
    "gpu_features",
    "pim_features",
    "relative_error_summary",
    "split_error",
    "train",
    "validate_predictors",
]
