"""Metrics computed on host from the whole evaluated set, selectable by name.

A metric is ``fn(predictions, targets) -> float`` over NumPy arrays holding every evaluated
sample exactly once, so set-level metrics such as AUC and R² are exact, not batch averages.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

MetricFn = Callable[[np.ndarray, np.ndarray], float]


def _binary_scores(predictions: np.ndarray) -> np.ndarray:
    scores = predictions.reshape(predictions.shape[0], -1)
    if scores.shape[1] > 2:
        raise ValueError(f"'auc' is for binary tasks (1 or 2 outputs), got {scores.shape[1]}")
    if scores.shape[1] == 2:
        return scores[:, 1] - scores[:, 0]
    return scores[:, 0]


def accuracy(predictions: np.ndarray, targets: np.ndarray) -> float:
    """Fraction of correct labels: argmax of the logits, or ``logit > 0`` for one output.

    Example:
        >>> import numpy as np
        >>> accuracy(np.array([[2.0, 0.0], [0.0, 1.0]]), np.array([0, 0]))
        0.5
    """
    scores = predictions.reshape(predictions.shape[0], -1)
    labels = scores.argmax(axis=1) if scores.shape[1] > 1 else (scores[:, 0] > 0).astype(int)
    return float(np.mean(labels == targets.reshape(-1)))


def top_k_accuracy(predictions: np.ndarray, targets: np.ndarray, k: int = 5) -> float:
    """Fraction of samples whose label is among the ``k`` highest logits.

    Example:
        >>> import numpy as np
        >>> top_k_accuracy(np.array([[0.0, 1.0, 2.0]]), np.array([0]), k=2)
        0.0
    """
    top = np.argsort(-predictions, axis=1)[:, :k]
    return float(np.mean((top == targets.reshape(-1, 1)).any(axis=1)))


def auc(predictions: np.ndarray, targets: np.ndarray) -> float:
    """Exact ROC AUC (ties averaged) of binary ``targets`` from logits or scores.

    With two outputs the score is ``logit[1] - logit[0]``. NaN when only one class is present.

    Example:
        >>> import numpy as np
        >>> auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1]))
        0.75
    """
    scores = _binary_scores(predictions)
    positive = targets.reshape(-1) > 0.5
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2.0)[inverse]
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def mse(predictions: np.ndarray, targets: np.ndarray) -> float:
    """Mean squared error.

    Example:
        >>> import numpy as np
        >>> mse(np.array([[1.0], [2.0]]), np.array([1.0, 4.0]))
        2.0
    """
    return float(np.mean(np.square(predictions - targets.reshape(predictions.shape))))


def mae(predictions: np.ndarray, targets: np.ndarray) -> float:
    """Mean absolute error.

    Example:
        >>> import numpy as np
        >>> mae(np.array([[1.0], [2.0]]), np.array([1.0, 4.0]))
        1.0
    """
    return float(np.mean(np.abs(predictions - targets.reshape(predictions.shape))))


def r2(predictions: np.ndarray, targets: np.ndarray) -> float:
    """Coefficient of determination (uniform average over outputs).

    Example:
        >>> import numpy as np
        >>> r2(np.array([[1.0], [2.0], [3.0]]), np.array([1.0, 2.0, 3.0]))
        1.0
    """
    targets = targets.reshape(predictions.shape)
    residual = np.square(targets - predictions).sum(axis=0)
    total = np.square(targets - targets.mean(axis=0)).sum(axis=0)
    return float(np.mean(1.0 - residual / np.maximum(total, np.finfo(np.float64).tiny)))


METRICS: dict[str, MetricFn] = {
    "accuracy": accuracy,
    "top_k_accuracy": top_k_accuracy,
    "auc": auc,
    "mse": mse,
    "mae": mae,
    "r2": r2,
}


def resolve_metrics(metrics: object) -> dict[str, MetricFn]:
    """Maps each metric (a name or a callable) to its log key and function.

    Callables are logged under their ``__name__``.

    Example:
        >>> list(resolve_metrics(["accuracy", "auc"]))
        ['accuracy', 'auc']
    """
    if isinstance(metrics, str) or callable(metrics):
        metrics = (metrics,)
    resolved: dict[str, MetricFn] = {}
    for metric in metrics:  # type: ignore[attr-defined]
        if callable(metric):
            resolved[getattr(metric, "__name__", type(metric).__name__)] = metric
        elif metric in METRICS:
            resolved[metric] = METRICS[metric]
        else:
            raise ValueError(
                f"`metrics` entries must be callables or one of {sorted(METRICS)}, got {metric!r}"
            )
    return resolved
