"""PIMTimePredictor: the PIM stage's time as a linear function of PIM_FEATURES (the paper's choice).

Decode attention on bank-level PIM costs a fixed time per request and layer
plus a time per context token (``hw.pim.attention_cost_coefficients``), and
transfers scale with the tokens moved, so a linear model in (total decode
tokens, decode requests, other sub-batch's prefill tokens) is the right form;
what it cannot see is the imbalance between ranks. Fits go through the fit cache
(``l3sim.cache``), as the GPU forest's do.
"""

from __future__ import annotations

import numpy as np

from l3sim.cache import Arrays, cached_arrays, content_key, library_version
from l3sim.serving.predictors.base import OnlinePredictor
from l3sim.serving.predictors.features import PIM_FEATURES


class PIMTimePredictor(OnlinePredictor):
    """Ordinary least squares with intercept; prediction is a dot product (no sklearn call on the hot path)."""

    feature_names = PIM_FEATURES

    def __init__(self, refit_every: int = 1000, max_samples: int = 2000) -> None:
        super().__init__(refit_every, max_samples)
        self.coef_ = np.zeros(len(PIM_FEATURES))
        self.intercept_ = 0.0
        self._coef_floats: tuple[float, ...] = (0.0,) * len(PIM_FEATURES)

    def _train(self, X: np.ndarray, y: np.ndarray) -> None:
        fitted = fit_linear(X, y)
        self.coef_ = fitted["coef"]
        self.intercept_ = float(fitted["intercept"][0])
        self._coef_floats = tuple(float(c) for c in self.coef_)

    def _predict(self, X: np.ndarray) -> np.ndarray:
        return self.predict_columns(*X.T)

    def predict_columns(self, decode_context_tokens, num_decodes, other_prefill_tokens):
        """Seconds for the rows whose three columns are given (numbers or arrays, broadcast): a float for
        numbers. The scheduler asks one row at a time, thousands of times, where building a feature row
        costs more than the arithmetic."""
        c0, c1, c2 = self._coef_floats
        return c0 * decode_context_tokens + c1 * num_decodes + c2 * other_prefill_tokens + self.intercept_


def check_linear_arrays(arrays: Arrays, num_features: int) -> None:
    """ValueError unless ``arrays`` are a linear fit over ``num_features`` columns: finite float64 ``coef``
    (one per column) and ``intercept`` (one value)."""
    if set(arrays) != {"coef", "intercept"}:
        raise ValueError(f"linear fit arrays: expected coef, intercept, got {sorted(arrays)}")
    for name, shape in (("coef", (num_features,)), ("intercept", (1,))):
        value = arrays[name]
        if value.dtype != np.float64 or value.shape != shape or not np.all(np.isfinite(value)):
            raise ValueError(f"linear fit arrays: {name} must be {shape} finite float64, got {value.dtype} "
                             f"{value.shape}")


def fit_linear(X: np.ndarray, y: np.ndarray) -> Arrays:
    """``sklearn.linear_model.LinearRegression().fit(X, y)``'s ``coef`` and ``intercept`` (float64 arrays),
    through the fit cache: the key covers the data and the scikit-learn and numpy versions."""
    rows = np.ascontiguousarray(X, dtype=np.float64)
    target = np.ascontiguousarray(y, dtype=np.float64)
    key = content_key("linear-regression", library_version("scikit-learn"), library_version("numpy"), rows, target)

    def build() -> Arrays:
        from sklearn.linear_model import LinearRegression

        model = LinearRegression().fit(rows, target)
        return {"coef": np.asarray(model.coef_, dtype=np.float64),
                "intercept": np.array([model.intercept_], dtype=np.float64)}

    return cached_arrays("linear", key, build, lambda arrays: check_linear_arrays(arrays, rows.shape[1]))
