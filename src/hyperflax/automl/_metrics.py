"""The metrics a user can optimize, computed by scikit-learn on held-out predictions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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


#: Binary metrics of hard decisions, whose best probability threshold need not be 0.5.
THRESHOLD_METRICS = ("accuracy", "balanced_accuracy", "f1")


def best_threshold(p: np.ndarray, y: np.ndarray, metric: Metric, *, n: int = 199) -> float:
    """The probability threshold of the second class that scores best by ``metric``.

    Candidates are 0.5 and ``n`` quantiles of ``p``; the best is kept, and of equal scores the
    one closest to 0.5 (a calibrated threshold moves only when the data say so).

    Args:
        p: Out-of-fold probabilities of the second class.
        y: Class indices (0 or 1).
        metric: A metric of hard decisions (see ``THRESHOLD_METRICS``).
        n: Quantiles tried.

    Example:
        >>> y = np.array([0, 0, 1, 1])
        >>> best_threshold(np.array([0.1, 0.3, 0.35, 0.4]), y, CLASSIFICATION["accuracy"])
        0.35
    """
    candidates = np.unique(np.concatenate([[0.5], np.quantile(p, np.linspace(0, 1, n))]))
    best, best_score = 0.5, -np.inf
    for t in sorted(candidates, key=lambda t: abs(t - 0.5)):
        above = (p >= t).astype(np.float64)
        score = -metric.sign * metric(y, np.stack([1.0 - above, above], axis=1))
        if score > best_score:
            best, best_score = float(t), score
    return best


def with_temperature(p: Any, temperature: float, xp: Any = np) -> Any:
    """Class probabilities ``p`` sharpened (``temperature < 1``) or softened, rows summing to 1.

    ``p ** (1 / T)`` normalized: the softmax of ``log(p) / T``, so the most probable class of a
    row never changes. ``xp`` is the array namespace: NumPy when fitting, ``jax.numpy`` inside
    an export.

    Example:
        >>> with_temperature(np.array([[0.8, 0.2]]), 0.5).round(3)
        array([[0.941, 0.059]])
    """
    q = xp.clip(p, 1e-15, None) ** (1.0 / temperature)
    return q / q.sum(axis=1, keepdims=True)


def fit_temperature(
    p: np.ndarray, y: np.ndarray, *, n_folds: int = 5, seed: int = 0
) -> tuple[float, float]:
    """The temperature (at most 1) that minimizes the log loss of ``p``, if it helps unseen rows.

    A weighted average of models is less confident than its members, and a log loss pays for
    that. Only sharpening is fitted: out-of-fold predictions come from one fold model per
    candidate, while predictions on new rows average every fold model, which makes them
    smoother still; a softening measured on out-of-fold rows would overshoot there (on digits,
    a fitted 1.45 took a test log loss from 0.077 to 0.086), a sharpening errs on the safe
    side. The check fits a temperature on ``n_folds - 1`` folds of the rows and scores it on
    the last, for each fold; the temperature (then fitted on every row) is kept only when those
    held-out scores beat ``p`` as it is.

    Args:
        p: Out-of-fold class probabilities, one row per training row.
        y: Class indices.
        n_folds: Folds of the check.
        seed: Seed of the folds.

    Returns:
        ``(temperature, log loss)``: ``(1.0, log loss of p)`` when the check refuses, else the
        temperature and the held-out log loss of the check (an honest estimate).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> y = rng.integers(0, 2, 400)
        >>> p = np.where(y[:, None] == [0, 1], 0.6, 0.4)  # right, but far too unsure
        >>> temperature, loss = fit_temperature(p, y)
        >>> bool(temperature < 0.5), bool(loss < _log_loss(y, p))
        (True, True)
    """
    from scipy.optimize import minimize_scalar
    from sklearn.model_selection import KFold

    def fit(rows: np.ndarray) -> float:
        def loss(log_t: float) -> float:
            return _log_loss(y[rows], with_temperature(p[rows], float(np.exp(log_t))))

        t = float(np.exp(minimize_scalar(loss, bounds=(np.log(0.2), 0.0), method="bounded").x))
        return 1.0 if t > 0.99 else t

    temperature = fit(np.arange(len(y)))
    raw = _log_loss(y, p)
    if temperature == 1.0:
        return 1.0, raw
    held_out = np.empty_like(p, dtype=np.float64)
    for train, test in KFold(n_folds, shuffle=True, random_state=seed).split(p):
        held_out[test] = with_temperature(p[test], fit(train))
    checked = _log_loss(y, held_out)
    return (temperature, checked) if checked < raw else (1.0, raw)
