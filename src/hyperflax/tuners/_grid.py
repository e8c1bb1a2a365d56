"""Grid search over a define-by-run space that is discovered as trials run."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from typing import Any

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import FrozenTrial, TrialState

from hyperflax.search_spaces import Choice, Float, Int
from hyperflax.tuners._plan import TrialPlan
from hyperflax.tuners._tuner import Tuner


class GridSearch(Tuner):
    """Tries every combination of a finite space, in order, until it is exhausted.

    The space is discovered as trials run, so conditional parameters join the grid when a
    trial first asks for them. Every parameter must be finite: ``Int``, ``Choice``,
    ``Boolean``, ``Fixed``, or ``Float`` with a ``step``; anything else raises
    :class:`~hyperflax.SearchSpaceError` when it is defined. ``max_trials`` defaults to the
    whole grid.

    Example:
        >>> import hyperflax as hx
        >>> def f(hp):
        ...     return hp.Int("a", 0, 2) * 10 + hp.Choice("b", [1, 2])
        >>> tuner = hx.tuners.GridSearch(
        ...     f, objective=hx.Objective("value", "min"), directory=getfixture("tmp_path"),
        ...     verbose=0)
        >>> tuner.search()
        >>> len(tuner.trials_dataframe())
        6
    """

    default_max_trials = None
    finite_space = True

    def next_trial(self, trials: Sequence[FrozenTrial]) -> TrialPlan | None:
        """The first grid point no trial covers yet, or ``None`` once the grid is exhausted.

        Until a trial has asked for its parameters the grid is unknown, and a trial runs with
        sampled values to discover it; while such a trial of another worker is in flight,
        nothing is planned (the worker waits for it), so two workers never both sample.
        """
        discovering = (TrialState.RUNNING, TrialState.WAITING)
        if not any(t.distributions for t in trials) and any(t.state in discovering for t in trials):
            return None
        for point in _grid(trials):
            if not any(_covers(t, point) for t in trials):
                return TrialPlan(params=point)
        return None


def _grid(trials: Sequence[FrozenTrial]) -> Iterator[dict[str, Any]]:
    """Every combination of the values of every parameter seen so far, in a fixed order."""
    space: dict[str, BaseDistribution] = {}
    for t in trials:
        for name, dist in t.distributions.items():
            space.setdefault(name, dist)
    axes = [_values(name, dist) for name, dist in space.items()]
    for combo in itertools.product(*axes):
        yield dict(zip(space, combo, strict=True))


def _values(name: str, dist: BaseDistribution) -> list[Any]:
    """The grid of a parameter, as its search-space definition computes it."""
    if isinstance(dist, CategoricalDistribution):
        return Choice(name, tuple(dist.choices)).grid()
    if isinstance(dist, FloatDistribution):
        return Float(name, dist.low, dist.high, dist.step, dist.log).grid()
    assert isinstance(dist, IntDistribution), dist
    return Int(name, dist.low, dist.high, dist.step, dist.log).grid()


def _covers(trial: FrozenTrial, point: dict[str, Any]) -> bool:
    """A trial covers a grid point when every parameter it used has the point's value.

    A parameter the trial never asked for (a branch it did not take) does not matter.
    Failed trials count as covered: a configuration that fails is not tried again, unless its
    worker died, in which case it was queued again and that queued trial covers it.
    """
    used = trial.params
    if trial.state != TrialState.COMPLETE:  # may have stopped before asking for everything
        used = {**trial.system_attrs.get("fixed_params", {}), **used}
    if not used and trial.state != TrialState.COMPLETE:
        return False  # it never asked for anything: it covers no point
    return all(name not in point or _same(value, point[name]) for name, value in used.items())


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return type(a) is type(b) and a == b
