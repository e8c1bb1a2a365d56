"""How a trial's hyperparameters become a result: one runner per kind of objective.

A tuner picks its runner once, when it is built (KerasTuner's ``get_hypermodel`` idea): a
plain function ``fn(hp)`` gets a :class:`FunctionRunner`, a :class:`~hyperflax.HyperModel` a
model runner that trains on the data given to ``search``. The tuner never asks again which
kind it holds; what only a model search has (training data, trained models, export) lives
with the model runner, and the base class refuses it with a clear message.
"""

from __future__ import annotations

import abc
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from optuna.trial import FrozenTrial

from hyperflax.search_spaces import HyperParameters
from hyperflax.tuners._objective import Objective
from hyperflax.tuners._plan import TrialPlan

TrialResult = float | Mapping[str, float]


@dataclass(frozen=True)
class SearchArgs:
    """The arguments of ``tuner.search(...)``, checked by the runner before any trial runs."""

    x: Any = None
    y: Any = None
    validation_data: tuple[Any, Any] | None = None
    validation_split: float | None = None
    epochs: int | None = None
    batch_size: int = 32
    callbacks: Sequence[Any] = ()


def _nothing() -> None:
    """The default ``TrialContext.built``."""


@dataclass(frozen=True)
class TrialContext:
    """What a runner needs to know about the trial it runs.

    ``built`` is called once the trial's hyperparameters are all sampled (a model runner:
    its model is built), before it trains; the loop may then claim the next trial.
    """

    number: int
    plan: TrialPlan
    objective: Objective
    built: Callable[[], None] = field(default=_nothing, compare=False, repr=False)


@dataclass(frozen=True)
class TrialOutput:
    """What a trial produced: its result, a model's history, facts to store with the trial.

    ``result`` is a number or metrics by name; ``attrs`` are JSON-able (e.g. the devices a
    model trained on).
    """

    result: TrialResult
    history: dict[str, list[float]] | None = None
    attrs: Mapping[str, Any] = field(default_factory=dict)


class Runner(abc.ABC):
    """Runs trials of one kind of objective; :meth:`prepare` and :meth:`run` are required."""

    @abc.abstractmethod
    def prepare(self, args: SearchArgs, *, objective: Objective, plans_epochs: bool) -> None:
        """Check and keep the arguments of ``search``; raise before any trial runs.

        Args:
            args: what ``search`` was called with.
            objective: the metric the search optimizes.
            plans_epochs: whether the tuner gives each trial its epochs (so ``search`` needs no
                ``epochs=``).
        """

    @abc.abstractmethod
    def run(self, hp: HyperParameters, context: TrialContext) -> TrialOutput:
        """Run one trial with the hyperparameters ``hp`` asks the study for."""

    def compile_ahead(  # noqa: B027 - optional hook, a no-op unless overridden
        self, hp: HyperParameters, context: TrialContext
    ) -> None:
        """Compile what trial ``context`` will run, from a thread while another trial runs.

        Optional (default no-op); whatever it leaves undone, :meth:`run` does itself.
        """

    def overlap(self) -> tuple[float, float]:
        """The last :meth:`run`'s seconds compiling what :meth:`compile_ahead` could; the rest.

        ``compile_ahead="auto"`` asks; ``(0, 0)`` (the default) when compiling ahead would not
        have overlapped the two.
        """
        return 0.0, 0.0

    def on_report(  # noqa: B027 - optional hook, a no-op unless overridden
        self, metrics: dict[str, float], value: float, step: int, context: TrialContext
    ) -> None:
        """Called after each ``hp.report`` of the running trial (optional; default no-op).

        Args:
            metrics: what was reported, by name.
            value: the objective's value in it.
            step: the reported step.
            context: the running trial.
        """

    def on_search_end(  # noqa: B027 - optional hook, a no-op unless overridden
        self, trials: Sequence[FrozenTrial], ranked: Sequence[FrozenTrial], exhausted: bool
    ) -> None:
        """Called when a search ends (optional; default no-op), e.g. to remove what is unused.

        Args:
            trials: every trial of the study.
            ranked: the complete trials, best first.
            exhausted: whether the tuner will never run another trial of this study.
        """

    def run_population(
        self,
        claim: Callable[[], tuple[HyperParameters, TrialContext] | None],
        finish: Callable[[TrialContext, TrialOutput | Exception], None],
        *,
        size: int,
    ) -> None:
        """Run trials ``size`` at a time until ``claim`` has none; only a model search can.

        Args:
            claim: the next trial's hyperparameters and context, or ``None`` (none now).
            finish: called once per claimed trial, with its output or the error that ended it.
            size: how many trials train together.
        """
        raise TypeError(self.population_error())

    def auto_population_size(self) -> int:
        """The population size ``"auto"`` stands for: 1 unless the runner knows better."""
        return 1

    def population_error(self) -> str | None:
        """Why this runner cannot train populations (``None`` when it can)."""
        return (
            "population_size > 1 trains several models in one program; it needs a HyperModel "
            "search (a plain function runs one trial at a time: use population_size=1)"
        )

    def load_models(self, trials: Sequence[FrozenTrial]) -> list[Any]:
        """The trained models of ``trials``; only a model search has them."""
        raise TypeError(
            "get_best_models needs a HyperModel search; a plain function has no model. "
            "Use get_best_hyperparameters() instead"
        )

    def export(
        self,
        trial: FrozenTrial,
        path: Path,
        *,
        objective: Objective,
        example_input: Any,
        overwrite: bool,
    ) -> Path:
        """Export the model of ``trial``; only a model search has one."""
        raise TypeError(
            "export_best needs a HyperModel search; a plain function has no model to export"
        )

    def export_for_tracking(self, trial: FrozenTrial, objective: Objective) -> Path | None:
        """Export ``trial``'s model for the tracker, or ``None`` when there is nothing to export."""
        return None

    def export_recipe(self) -> dict[str, Any] | None:
        """What ``hyperflax export`` needs to rebuild a trial's model later (stored in the study).

        ``None`` when there is no model to export.
        """
        return None


class _BudgetReached(Exception):  # noqa: N818 - control flow, not an error
    """Raised by ``hp.report`` when a plain function has used the epochs its plan gives it."""


class FunctionRunner(Runner):
    """Runs a plain function ``fn(hp) -> float | dict[str, float]``.

    With a plan that gives ``epochs`` (Hyperband), ``hp.report`` stops the function once it
    reaches the budget and the trial's value is the best one it reported.
    """

    def __init__(self, fn: Callable[[HyperParameters], TrialResult]) -> None:
        self.fn = fn
        self._best: tuple[float, dict[str, float]] | None = None

    def prepare(self, args: SearchArgs, *, objective: Objective, plans_epochs: bool) -> None:
        """Refuse training arguments: a plain function takes none."""
        given = [
            name
            for name in ("x", "y", "validation_data", "validation_split", "epochs")
            if getattr(args, name) is not None
        ] + ["callbacks"] * bool(args.callbacks)
        if given:
            raise ValueError(
                f"a plain-function objective takes no training arguments, got {given}; "
                f"pass a hx.HyperModel to train a model on data"
            )

    def run(self, hp: HyperParameters, context: TrialContext) -> TrialOutput:
        """Call the function; a budget stop returns the best step it reported."""
        self._best = None
        try:
            return TrialOutput(self.fn(hp))
        except _BudgetReached:
            assert self._best is not None
            return TrialOutput(self._best[1])

    def on_report(
        self, metrics: dict[str, float], value: float, step: int, context: TrialContext
    ) -> None:
        """Keep the best reported step; stop the function at its planned budget."""
        if self._best is None or context.objective.better(value, self._best[0]):
            self._best = (value, metrics)
        epochs = context.plan.epochs
        if epochs is not None and step + 1 >= epochs:
            raise _BudgetReached


def importable_name(hypermodel: Any) -> str | None:
    """``module:name`` of a HyperModel's build function (or of its subclass), if importable.

    ``None`` for code another process cannot import by name: a script run as ``__main__``, a
    function defined inside another one.

    Example:
        >>> from hyperflax.tuners._random import RandomSearch
        >>> importable_name(RandomSearch)
        'hyperflax.tuners._random:RandomSearch'
    """
    target = getattr(hypermodel, "build_model", None) or hypermodel
    if not callable(target) or not hasattr(target, "__qualname__"):
        target = type(target)
    module, name = getattr(target, "__module__", None), target.__qualname__
    if not module or module == "__main__" or "<" in name:
        return None
    return f"{module}:{name}"


def searched_name(hypermodel: Any) -> str:
    """What a search searches, as a folder-safe name: the script or module, then the function.

    A plain function is named by its own name; a HyperModel by its build function, or by its
    class when it is a subclass. The name is the default ``project_name`` and is stored with
    the study, so a different search never resumes it by accident.

    Example:
        >>> def objective(hp):
        ...     return 0.0
        >>> searched_name(objective).endswith("objective")
        True
    """
    target = getattr(hypermodel, "build_model", None) or hypermodel
    if not callable(target) or not hasattr(target, "__qualname__"):
        target = type(target)
    module = getattr(target, "__module__", None) or "interactive"
    if module == "__main__":
        main_file = getattr(sys.modules.get("__main__"), "__file__", None)
        module = Path(main_file).stem if main_file else "interactive"
    name = f"{module}.{target.__qualname__}".replace(".<locals>", "")
    return re.sub(r"[^A-Za-z0-9_.-]+", "", name.replace("<lambda>", "lambda")) or "search"


def make_runner(hypermodel: Any, project_dir: Path, seed: int) -> Runner:
    """The runner for what a tuner was given: a HyperModel, a plain function or a Runner.

    A HyperModel can only exist once its module (and Flax) is imported, so a plain function
    never imports Flax.
    """
    if isinstance(hypermodel, Runner):  # a runner of its own kind (AutoML's candidates)
        return hypermodel
    module = sys.modules.get("hyperflax.tuners._hypermodel")
    if module is not None and isinstance(hypermodel, module.HyperModel):
        from hyperflax.tuners._training import ModelRunner

        return ModelRunner(hypermodel, project_dir, seed)
    if callable(hypermodel):
        return FunctionRunner(hypermodel)
    raise TypeError(f"hypermodel must be a HyperModel or a function fn(hp), got {hypermodel!r}")
