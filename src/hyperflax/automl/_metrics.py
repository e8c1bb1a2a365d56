"""The metrics a user can optimize, computed by scikit-learn on held-out predictions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn import metrics as skm


@dataclass(frozen=True)
class Metric:
    """A metric on held-out predictions (class probabilities, or values for regression).

    Attributes:
        name: The metric's name, also the Optuna objective's name.
        direction: ``"min"`` or ``"max"``.
        fn: ``fn(y_true, predictions) -> float``; ``y_true`` holds class indices for
            classification.
    """

    name: str
    direction: str
    fn: Callable[[np.ndarray, np.ndarray], float]

    def __call__(self, y_true: np.ndarray, predictions: np.ndarray) -> float:
        """The metric's value."""
        return float(self.fn(y_true, predictions))

    @property
    def sign(self) -> float:
        """``+1`` when smaller is better, ``-1`` when larger is better."""
        return 1.0 if self.direction == "min" else -1.0


def _log_loss(y: np.ndarray, proba: np.ndarray) -> float:
    proba = np.clip(proba, 1e-7, 1.0)
    proba = proba / proba.sum(axis=1, keepdims=True)
    return float(skm.log_loss(y, proba, labels=np.arange(proba.shape[1])))


def _roc_auc(y: np.ndarray, proba: np.ndarray) -> float:
    if proba.shape[1] == 2:
        return float(skm.roc_auc_score(y, proba[:, 1]))
    present = np.unique(y)
    scores = proba[:, present] / np.clip(proba[:, present].sum(1, keepdims=True), 1e-12, None)
    return float(skm.roc_auc_score(y, scores, multi_class="ovr", labels=present))


def _f1(y: np.ndarray, proba: np.ndarray) -> float:
    average = "binary" if proba.shape[1] == 2 else "macro"
    return float(skm.f1_score(y, proba.argmax(1), average=average, zero_division=0.0))


CLASSIFICATION: dict[str, Metric] = {
    "log_loss": Metric("log_loss", "min", _log_loss),
    "accuracy": Metric("accuracy", "max", lambda y, p: skm.accuracy_score(y, p.argmax(1))),
    "balanced_accuracy": Metric(
        "balanced_accuracy", "max", lambda y, p: skm.balanced_accuracy_score(y, p.argmax(1))
    ),
    "roc_auc": Metric("roc_auc", "max", _roc_auc),
    "f1": Metric("f1", "max", _f1),
}
REGRESSION: dict[str, Metric] = {
    "rmse": Metric("rmse", "min", skm.root_mean_squared_error),
    "mae": Metric("mae", "min", skm.mean_absolute_error),
    "r2": Metric("r2", "max", skm.r2_score),
}


def resolve_metric(metric: str | None, classification: bool) -> Metric:
    """The :class:`Metric` named ``metric``; ``None`` gives log loss or RMSE.

    Raises:
        ValueError: for a name that is not a metric of the task.

    Example:
        >>> resolve_metric(None, classification=True).name
        'log_loss'
    """
    table = CLASSIFICATION if classification else REGRESSION
    if metric is None:
        return table["log_loss" if classification else "rmse"]
    if metric not in table:
        task = "classification" if classification else "regression"
        raise ValueError(
            f"`metric` must be one of {sorted(table)} for {task}, got {metric!r}; "
            f"pass metric=None for the default"
        )
    return table[metric]
