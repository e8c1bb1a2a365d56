"""What is learned: the problem type, the class count, and the data split candidates share."""

from __future__ import annotations

import time
from collections.abc import Container
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Task:
    """The problem: ``"binary"``, ``"multiclass"`` or ``"regression"``, and its class count.

    Example:
        >>> Task("binary", 2).classification
        True
    """

    kind: str
    n_classes: int = 0

    @property
    def classification(self) -> bool:
        """Whether predictions are class probabilities."""
        return self.kind != "regression"

    @property
    def target_type(self) -> str:
        """scikit-learn's name for the target type (for target encoding)."""
        return "continuous" if self.kind == "regression" else self.kind


@dataclass(frozen=True)
class Split:
    """Preprocessed training and held-out arrays of one preprocessor kind.

    ``y`` holds class indices for classification and float values for regression.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    n_numerical: int
    categorical: np.ndarray  # mask of ordinal-coded columns ("tree" kind only)


def full_proba(proba: np.ndarray, seen: np.ndarray, n_classes: int) -> np.ndarray:
    """Class probabilities over all ``n_classes``, from a model that saw only classes ``seen``.

    Example:
        >>> full_proba(np.array([[0.3, 0.7]]), np.array([0, 2]), 3).tolist()
        [[0.3, 0.0, 0.7]]
    """
    out = np.zeros((len(proba), n_classes), np.float64)
    out[:, np.asarray(seen, dtype=int)] = proba
    return out


class Deadline:
    """One monotonic deadline for a whole fit.

    Example:
        >>> Deadline(60.0).remaining() > 59
        True
    """

    def __init__(self, seconds: float) -> None:
        self.start = time.monotonic()
        self.at = self.start + seconds

    def remaining(self) -> float:
        """Seconds left (negative once passed)."""
        return self.at - time.monotonic()

    def elapsed(self) -> float:
        """Seconds since the fit started."""
        return time.monotonic() - self.start


def check_search_params(est: Any, presets: Container[str]) -> None:
    """Checks the parameters every AutoML estimator shares, naming the bad one and the rule.

    Raises:
        ValueError: for a bad ``time_limit``, ``presets``, ``max_trials``, ``seed``,
            ``population_size`` or ``tracker``.

    Example:
        >>> class Est:
        ...     time_limit, presets, max_trials, seed, population_size, tracker = (
        ...         -1, "fast", None, 0, 1, None)
        >>> check_search_params(Est(), ["fast"])
        Traceback (most recent call last):
        ...
        ValueError: `time_limit` must be a number of seconds > 0, got -1
    """
    t = est.time_limit
    if isinstance(t, bool) or not isinstance(t, int | float) or not t > 0:
        raise ValueError(f"`time_limit` must be a number of seconds > 0, got {t!r}")
    if est.presets not in presets:
        raise ValueError(f"`presets` must be one of {sorted(presets)}, got {est.presets!r}")  # type: ignore[call-overload]
    m = est.max_trials
    if m is not None and (isinstance(m, bool) or not isinstance(m, int) or m < 1):
        raise ValueError(f"`max_trials` must be an int >= 1 or None, got {m!r}")
    s = est.seed
    if isinstance(s, bool) or not isinstance(s, int) or s < 0:
        raise ValueError(f"`seed` must be an int >= 0, got {s!r}")
    k = est.population_size
    if k != "auto" and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
        raise ValueError(f"`population_size` must be an int >= 1 or 'auto', got {k!r}")
    if est.tracker not in (None, "mlflow") and not hasattr(est.tracker, "on_trial_end"):
        raise ValueError(
            f"`tracker` must be None, 'mlflow' or a hx.tracking.Tracker, got {est.tracker!r}"
        )
