"""Greedy ensemble selection (Caruana et al., 2004) over held-out predictions."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from hyperflax.automl._metrics import Metric


def greedy_ensemble(
    predictions: Sequence[np.ndarray],
    y: np.ndarray,
    metric: Metric,
    *,
    n_iterations: int = 50,
    deadline: float | None = None,
) -> np.ndarray:
    """Weights for ``predictions`` chosen by greedy forward selection with replacement.

    Each round adds the model whose inclusion gives the best metric of the averaged
    predictions (ties go to the earlier model); the weights are the counts of the best-scoring
    prefix of rounds, divided by its length.

    Args:
        predictions: One array per model (probabilities ``(n, classes)`` or values ``(n,)``),
            best model first.
        y: Held-out targets (class indices or values).
        metric: What to optimize.
        n_iterations: Rounds of selection.
        deadline: A ``time.monotonic()`` time after which selection stops early.

    Returns:
        Weights summing to 1, one per model.

    Example:
        >>> from hyperflax.automl._metrics import REGRESSION
        >>> y = np.array([0.0, 2.0])
        >>> greedy_ensemble([np.array([1.0, 1.0]), np.array([-1.0, 3.0])], y,
        ...                 REGRESSION["rmse"]).tolist()
        [0.5, 0.5]
    """
    if not predictions:
        raise ValueError("`predictions` must hold at least one model's predictions")
    stack = np.stack([np.asarray(p, np.float64) for p in predictions])
    total = np.zeros_like(stack[0])
    counts = np.zeros(len(stack), np.int64)
    best_score, best_counts = np.inf, counts.copy()
    for round_ in range(1, n_iterations + 1):
        scores = [metric.sign * metric(y, (total + p) / round_) for p in stack]
        choice = int(np.nanargmin(scores)) if not np.all(np.isnan(scores)) else 0
        total += stack[choice]
        counts[choice] += 1
        if scores[choice] < best_score:
            best_score, best_counts = scores[choice], counts.copy()
        if deadline is not None and time.monotonic() >= deadline:
            break
    if not best_counts.any():
        best_counts[0] = 1
    return best_counts / best_counts.sum()
