"""Optuna pruners by name."""

from __future__ import annotations

from collections.abc import Callable

import optuna
from optuna.pruners import BasePruner

_PRUNERS: dict[str, Callable[[], BasePruner]] = {
    "none": optuna.pruners.NopPruner,
    "median": lambda: optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1),
    "asha": optuna.pruners.SuccessiveHalvingPruner,
    "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
    "hyperband": optuna.pruners.HyperbandPruner,
}


def make_pruner(pruner: str | BasePruner | None) -> BasePruner:
    """An Optuna pruner from a name (see ``_PRUNERS``), an instance, or ``None`` for none.

    Example:
        >>> from hyperflax.tuners import make_pruner
        >>> type(make_pruner("median")).__name__
        'MedianPruner'
    """
    if pruner is None:
        return optuna.pruners.NopPruner()
    if isinstance(pruner, BasePruner):
        return pruner
    if isinstance(pruner, str) and pruner in _PRUNERS:
        return _PRUNERS[pruner]()
    raise ValueError(
        f"pruner must be one of {sorted(_PRUNERS)} or an optuna pruner, got {pruner!r}"
    )
