"""Which way a metric improves, read from its name: the one rule for objectives and callbacks.

A leaf module without JAX: ``hyperflax.tuners`` (an objective's direction) and
``hyperflax.trainers`` (``EarlyStopping(mode="auto")``) both ask it, so a metric name gets the
same direction everywhere.
"""

from __future__ import annotations

import re
from typing import Literal

MINIMIZED = ("loss", "error", "mse", "mae", "rmse", "mape", "regret", "cost")
MAXIMIZED = ("accuracy", "acc", "auc", "r2", "f1", "precision", "recall", "score")


def infer_direction(metric: str) -> Literal["min", "max"] | None:
    """``"min"`` or ``"max"`` for a well-known metric name, ``None`` when the name does not tell.

    The name is split into words at every character that is not a letter or digit; a word
    that is, or ends with, a known metric decides (``val_logloss`` is minimized,
    ``val_top1accuracy`` maximized). A name with words of both kinds is minimized.

    Example:
        >>> infer_direction("val_loss"), infer_direction("val_precision"), infer_direction("speed")
        ('min', 'max', None)
    """
    words = re.split(r"[^a-z0-9]+", metric.lower())
    if any(word.endswith(MINIMIZED) for word in words):
        return "min"
    if any(word.endswith(MAXIMIZED) for word in words):
        return "max"
    return None
