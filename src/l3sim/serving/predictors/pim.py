"""PIMTimePredictor: the PIM stage's time as a linear function of PIM_FEATURES (the paper's choice).

Decode attention on bank-level PIM costs a fixed time per request and layer
plus a time per context token (``hw.pim.attention_cost_coefficients``), and
transfers scale with the tokens moved, so a linear model in (total decode
tokens, decode requests, other sub-batch's prefill tokens) is the right form;
what it cannot see is the imbalance between ranks.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LinearRegression

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
        model = LinearRegression().fit(X, y)
        self.coef_ = np.asarray(model.coef_, dtype=np.float64)
        self.intercept_ = float(model.intercept_)
        self._coef_floats = tuple(float(c) for c in self.coef_)

    def _predict(self, X: np.ndarray) -> np.ndarray:
        return self.predict_columns(*X.T)

    def predict_columns(self, decode_context_tokens, num_decodes, other_prefill_tokens):
        """Seconds for the rows whose three columns are given (numbers or arrays, broadcast): a float for
        numbers. The scheduler asks one row at a time, thousands of times, where building a feature row
        costs more than the arithmetic."""
        c0, c1, c2 = self._coef_floats
        return c0 * decode_context_tokens + c1 * num_decodes + c2 * other_prefill_tokens + self.intercept_
