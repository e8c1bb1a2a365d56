"""What is learned: the problem type, the class count, and the data split candidates share."""

from __future__ import annotations

import time
from dataclasses import dataclass

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
