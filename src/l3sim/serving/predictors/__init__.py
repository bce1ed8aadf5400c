"""Latency predictors the L3 scheduler consults (paper: linear for PIM, random forest for GPU).

Both share one scikit-learn-like interface (``fit``, ``predict``, ``update``,
``feature_names``); the rows are built by ``pim_features`` / ``gpu_features``.
``train_predictors`` draws samples from a StageTimes and fits both;
their held-out error is ``l3sim.experiments.predictor_validation``.
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
    train,
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
    "train",
]
