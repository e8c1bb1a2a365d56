"""Hyperband (Li et al., 2018): successive halving over brackets of budgets."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Unpack

from optuna.trial import FrozenTrial, TrialState

from hyperflax.tuners._checks import check_int
from hyperflax.tuners._loop import FINISHED
from hyperflax.tuners._plan import TrialPlan
from hyperflax.tuners._tuner import Tuner, TunerOptions


@dataclass(frozen=True)
class Rung:
    """One round of one bracket: ``size`` trials trained to ``budget`` epochs each."""

    iteration: int
    bracket: int
    round: int
    size: int
    budget: int

    def tags(self) -> dict[str, int]:
        """The plan tags that place a trial in this rung."""
        return {"iteration": self.iteration, "bracket": self.bracket, "round": self.round}

    def members(self, trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
        """The trials placed in this rung."""
        tags = self.tags()
        return [t for t in trials if TrialPlan.of(t).tags == tags]


def schedule(max_epochs: int, factor: int, iterations: int = 1) -> list[list[Rung]]:
    """The brackets of Hyperband, most exploratory first, each a list of rungs.

    Bracket ``s`` starts ``n = ceil((s_max + 1) / (s + 1) * factor**s)`` configurations at
    ``max_epochs / factor**s`` epochs and keeps the best ``1 / factor`` of them each round.

    Example:
        >>> from hyperflax.tuners import hyperband_schedule
        >>> [(r.size, r.budget) for r in hyperband_schedule(9, 3)[0]]
        [(9, 1), (3, 3), (1, 9)]
    """
    s_max = math.floor(math.log(max_epochs) / math.log(factor) + 1e-9)
    brackets = []
    for iteration in range(iterations):
        for s in range(s_max, -1, -1):
            n = math.ceil((s_max + 1) / (s + 1) * factor**s)
            rungs = [
                Rung(iteration, s, i, n // factor**i, max(1, round(max_epochs * factor ** (i - s))))
                for i in range(s + 1)
            ]
            brackets.append([r for r in rungs if r.size > 0])
    return brackets


class Hyperband(Tuner):
    """Hyperband: many configurations on small budgets, the best promoted to larger ones.

    Each bracket runs successive halving: ``n`` random configurations train for a few epochs,
    the best ``1/factor`` continue for ``factor`` times more, up to ``max_epochs``. A promoted
    trial is a new Optuna trial with the same hyperparameters and ``hx:slot_parent`` naming the
    trial it continues. A trial's objective is its best reported value. Plain functions
    receive their budget through ``hp.report``, which stops them once they reach it.

    Args:
        hypermodel: what to tune; see :class:`Tuner`.
        max_epochs: the largest budget, in epochs (steps reported through ``hp.report``).
        factor: the reduction factor (``eta``), at least 2.
        hyperband_iterations: how many times to run the whole set of brackets.
        **options: the common tuner arguments of :class:`Tuner`; ``max_trials`` defaults to
            no limit beyond the schedule.

    Example:
        >>> import hyperflax as hx
        >>> def f(hp):
        ...     x = hp.Float("x", -2.0, 2.0)
        ...     for epoch in range(9):
        ...         hp.report(x * x + 1.0 / (epoch + 1), step=epoch)
        ...     return x * x + 1.0 / 9
        >>> tuner = hx.tuners.Hyperband(
        ...     f, objective=hx.Objective("loss", "min"), max_epochs=9, factor=3, seed=0,
        ...     directory=getfixture("tmp_path"), verbose=0)
        >>> tuner.search()
        >>> len(tuner.trials_dataframe())
        22
    """

    default_max_trials = None
    plans_epochs = True

    def __init__(
        self,
        hypermodel: Any,
        *,
        max_epochs: int,
        factor: int = 3,
        hyperband_iterations: int = 1,
        **options: Unpack[TunerOptions],
    ) -> None:
        check_int("max_epochs", max_epochs, low=1)
        check_int("factor", factor, low=2)
        check_int("hyperband_iterations", hyperband_iterations, low=1)
        self.max_epochs = max_epochs
        self.factor = factor
        self.hyperband_iterations = hyperband_iterations
        super().__init__(hypermodel, **options)

    def expected_trials(self) -> int | None:
        """Every rung of the schedule (at most ``max_trials``)."""
        brackets = schedule(self.max_epochs, self.factor, self.hyperband_iterations)
        total = sum(rung.size for bracket in brackets for rung in bracket)
        return total if self.max_trials is None else min(total, self.max_trials)

    def brackets(self) -> list[list[Rung]]:
        """The brackets in the order they run; by default the most exploratory first.

        Example:
            >>> class SafeFirst(Hyperband):  # full-budget configurations first
            ...     def brackets(self):
            ...         return super().brackets()[::-1]
        """
        return schedule(self.max_epochs, self.factor, self.hyperband_iterations)

    def next_trial(self, trials: Sequence[FrozenTrial]) -> TrialPlan | None:
        """The next rung member: a new configuration, or the best of a finished round promoted."""
        for bracket in self.brackets():
            for previous, rung in zip([None, *bracket], bracket, strict=False):
                members = rung.members(trials)
                if len(members) >= rung.size:
                    continue
                keep_state = rung is not bracket[-1]  # a later round may continue it
                if previous is None:
                    return TrialPlan(epochs=rung.budget, keep_state=keep_state, tags=rung.tags())
                parent = self._promotable(trials, previous, members)
                if parent is None:
                    break  # this bracket waits for its previous round; try the next bracket
                return TrialPlan(
                    params=parent.params,
                    epochs=rung.budget,
                    continues=parent.number,
                    keep_state=keep_state,
                    tags=rung.tags(),
                )
        return None

    def _promotable(
        self, trials: Sequence[FrozenTrial], previous: Rung, members: list[FrozenTrial]
    ) -> FrozenTrial | None:
        """The best trial of the previous round not promoted yet, once that round is done."""
        below = previous.members(trials)
        if len(below) < previous.size or any(
            t.state not in (*FINISHED, TrialState.FAIL) for t in below
        ):
            return None
        promoted = {TrialPlan.of(t).continues for t in members}
        ranked = self.objective.rank(t for t in below if t.state == TrialState.COMPLETE)
        keep = ranked[: previous.size // self.factor]
        return next((t for t in keep if t.number not in promoted), None)
