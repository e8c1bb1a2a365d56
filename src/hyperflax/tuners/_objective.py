"""The metric a search optimizes, and its direction."""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from optuna.trial import FrozenTrial

from hyperflax._directions import MAXIMIZED, MINIMIZED, infer_direction

_DIRECTIONS = {"min": "minimize", "minimize": "minimize", "max": "maximize", "maximize": "maximize"}


@dataclass(frozen=True)
class Objective:
    """A metric name and whether to minimize or maximize it.

    Args:
        name: the metric, e.g. ``"val_accuracy"``; a plain function that returns a float
            reports that float under this name.
        direction: ``"min"``/``"minimize"`` or ``"max"``/``"maximize"``.

    Example:
        >>> import hyperflax as hx
        >>> hx.Objective("val_accuracy", "max")
        Objective(name='val_accuracy', direction='maximize')
    """

    name: str
    direction: Literal["minimize", "maximize"]

    def __init__(self, name: str, direction: str) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"Objective name must be a non-empty str, got {name!r}")
        if direction not in _DIRECTIONS:
            raise ValueError(
                f"Objective direction must be one of {sorted(_DIRECTIONS)}, got {direction!r}"
            )
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "direction", _DIRECTIONS[direction])

    @property
    def sign(self) -> float:
        """``+1`` when smaller is better, ``-1`` when larger is better."""
        return 1.0 if self.direction == "minimize" else -1.0

    def value_of(self, result: float | Mapping[str, float]) -> float:
        """The objective's value in a float result or a dict of metrics.

        Raises:
            KeyError: when a dict result lacks the objective's metric.
            TypeError: when the result is neither a number nor a dict of numbers.
        """
        if isinstance(result, Mapping):
            if self.name not in result:
                raise KeyError(
                    f"objective {self.name!r} is not among the reported metrics {sorted(result)}; "
                    f"pass objective= one of them"
                )
            result = result[self.name]
        try:
            if isinstance(result, bool | str):
                raise TypeError
            return float(result)
        except (TypeError, ValueError):
            raise TypeError(
                f"an objective function must return a number or a dict of numbers, got {result!r}"
            ) from None

    def rank(self, trials: Iterable[FrozenTrial]) -> list[FrozenTrial]:
        """Trials with a value, best first.

        Example:
            >>> import optuna, hyperflax as hx
            >>> trials = [optuna.trial.create_trial(value=v) for v in (0.3, 0.1, 0.2)]
            >>> [t.value for t in hx.Objective("loss", "min").rank(trials)]
            [0.1, 0.2, 0.3]
        """
        valued = [t for t in trials if t.value is not None]
        return sorted(valued, key=lambda t: self.sign * float(t.value or 0.0))

    def better(self, a: float, b: float) -> bool:
        """Whether value ``a`` is strictly better than ``b`` (NaN is never better)."""
        return not math.isnan(a) and (math.isnan(b) or self.sign * a < self.sign * b)


def as_objective(objective: str | Objective) -> Objective:
    """Turn a metric name into an :class:`Objective`, inferring well-known directions.

    Example:
        >>> from hyperflax.tuners import as_objective
        >>> as_objective("val_loss").direction, as_objective("val_auc").direction
        ('minimize', 'maximize')
    """
    if isinstance(objective, Objective):
        return objective
    if not isinstance(objective, str) or not objective:
        raise ValueError(f"objective must be a metric name or hx.Objective, got {objective!r}")
    direction = infer_direction(objective)
    if direction is not None:
        return Objective(objective, direction)
    known = [f"{prefix}{name}" for prefix in ("", "val_") for name in (*MINIMIZED, *MAXIMIZED)]
    close = difflib.get_close_matches(objective, known, n=1, cutoff=0.75)
    typo = f"did you mean {close[0]!r}? If not, " if close else ""
    raise ValueError(
        f"objective {objective!r} has no known direction; {typo}pass "
        f"hx.Objective({objective!r}, 'min') or hx.Objective({objective!r}, 'max')"
    )
