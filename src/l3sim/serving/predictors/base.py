"""The one interface every latency predictor shares (scikit-learn-like), with online refits.

A predictor maps feature rows (``feature_names`` columns) to seconds. ``fit``
trains from scratch, ``predict`` answers, ``update`` feeds observed pairs and
refits every ``refit_every`` observations on the training set plus the most
recent observations (at most ``max_samples`` rows in all), so a refit costs a
bounded amount however long the run.
"""

from __future__ import annotations

import numpy as np

from l3sim.errors import ConfigError


def as_rows(X, width: int, what: str) -> np.ndarray:
    """``X`` as a float (n, width) array; a wrong shape is a ConfigError naming ``what``."""
    rows = np.asarray(X, dtype=np.float64)
    if rows.ndim == 1:
        rows = rows.reshape(1, -1)
    if rows.ndim != 2 or rows.shape[1] != width:
        raise ConfigError(f"{what}: expected feature rows of width {width}, got shape {np.shape(X)}")
    return rows


class OnlinePredictor:
    """Shared bookkeeping: a fitted model, the rows it was trained on, refits every ``refit_every`` observations.

    Subclasses set ``feature_names`` and implement ``_train(X, y)`` (fit the
    model) and ``_predict(X)`` (rows -> seconds).
    """

    feature_names: tuple[str, ...] = ()

    def __init__(self, refit_every: int, max_samples: int) -> None:
        if refit_every < 1:
            raise ConfigError(f"refit_every must be >= 1 (got {refit_every})")
        if max_samples < 2:
            raise ConfigError(f"max_samples must be >= 2 (got {max_samples})")
        self.refit_every = refit_every
        self.max_samples = max_samples
        self.refits = 0
        self._X = np.zeros((0, len(self.feature_names)))
        self._y = np.zeros(0)
        self._new_X: list[np.ndarray] = []  # observed since the last (re)fit
        self._new_y: list[np.ndarray] = []
        self._pending = 0
        self._fitted = False

    @property
    def name(self) -> str:
        return type(self).__name__

    def fit(self, X, y) -> "OnlinePredictor":
        """Train on ``X`` (rows of ``feature_names``) and ``y`` (seconds), forgetting earlier data."""
        rows = as_rows(X, len(self.feature_names), f"{self.name}.fit X")
        target = np.asarray(y, dtype=np.float64).reshape(-1)
        if target.size != rows.shape[0] or target.size < 2:
            raise ConfigError(f"{self.name}.fit: need >= 2 rows and one target per row "
                              f"(got {rows.shape[0]} rows, {target.size} targets)")
        self._X, self._y = rows[-self.max_samples:], target[-self.max_samples:]
        self._new_X, self._new_y = [], []
        self._train(self._X, self._y)
        self._fitted = True
        self._pending = 0
        return self

    def predict(self, X) -> np.ndarray:
        """Seconds for each row of ``X``."""
        if not self._fitted:
            raise ConfigError(f"{self.name}.predict called before fit")
        return self._predict(as_rows(X, len(self.feature_names), f"{self.name}.predict X"))

    def predict_rows(self, rows: np.ndarray) -> np.ndarray:
        """Seconds for float64 rows already of width ``len(feature_names)`` (built by ``*_features``): the
        scheduler's hot path, without ``predict``'s shape checks."""
        return self._predict(rows)

    def update(self, X, y) -> bool:
        """Record observed rows; refit once ``refit_every`` have gathered. Returns whether it refitted.

        Rows wait in a list until the refit (one concatenation per refit, not per observation).
        """
        rows = as_rows(X, len(self.feature_names), f"{self.name}.update X")
        target = np.asarray(y, dtype=np.float64).reshape(-1)
        if target.size != rows.shape[0]:
            raise ConfigError(f"{self.name}.update: {rows.shape[0]} rows but {target.size} targets")
        return self.update_rows(rows, target)

    def update_rows(self, rows: np.ndarray, target: np.ndarray) -> bool:
        """``update`` of float64 rows already of width ``len(feature_names)`` and as many float64 targets (the
        scheduler's rows, built by its compiled plan), without ``update``'s checks."""
        self._new_X.append(rows)
        self._new_y.append(target)
        self._pending += target.size
        if self._pending < self.refit_every:
            return False
        self._X = np.concatenate([self._X, *self._new_X])[-self.max_samples:]
        self._y = np.concatenate([self._y, *self._new_y])[-self.max_samples:]
        self._new_X, self._new_y = [], []
        self._train(self._X, self._y)
        self._fitted = True
        self._pending = 0
        self.refits += 1
        return True

    def _train(self, X: np.ndarray, y: np.ndarray) -> None:
        raise NotImplementedError

    def _predict(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError
