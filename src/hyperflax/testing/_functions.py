"""Known test functions as plain-function objectives, for demos, tests and benchmarks."""

from __future__ import annotations

import math

import numpy as np

from hyperflax.search_spaces import HyperParameters

BRANIN_MIN = 0.397887
HARTMANN6_MIN = -3.32237

_H6_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_H6_A = np.array(
    [
        [10, 3, 17, 3.5, 1.7, 8],
        [0.05, 10, 17, 0.1, 8, 14],
        [3, 3.5, 1.7, 10, 17, 8],
        [17, 8, 0.05, 10, 0.1, 14],
    ]
)
_H6_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)


def branin(hp: HyperParameters) -> float:
    """The Branin function on ``x1 in [-5, 10]``, ``x2 in [0, 15]``; minimum 0.397887.

    Example:
        >>> import hyperflax as hx
        >>> from hyperflax.testing import branin
        >>> round(branin(hx.HyperParameters({"x1": 3.14159265, "x2": 2.275})), 4)
        0.3979
    """
    x1 = hp.Float("x1", -5.0, 10.0)
    x2 = hp.Float("x2", 0.0, 15.0)
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


def hartmann6(hp: HyperParameters) -> float:
    """The 6-dimensional Hartmann function on ``[0, 1]^6``; minimum -3.32237."""
    x = np.array([hp.Float(f"x{i}", 0.0, 1.0) for i in range(6)])
    return float(-np.sum(_H6_ALPHA * np.exp(-np.sum(_H6_A * (x - _H6_P) ** 2, axis=1))))
