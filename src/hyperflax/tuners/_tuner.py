"""The tuner base: one Optuna study, driven trial by trial through ask and tell."""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypedDict

import optuna
import pandas as pd
from optuna.pruners import BasePruner
from optuna.samplers import BaseSampler
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from hyperflax.search_spaces import HyperParameters, SearchSpaceError
from hyperflax.tuners import _results, _study
from hyperflax.tuners._objective import Objective, as_objective
from hyperflax.tuners._pruners import make_pruner

logger = logging.getLogger("hyperflax")

TrialResult = float | Mapping[str, float]
ObjectiveFn = Callable[[HyperParameters], TrialResult]
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


class TunerOptions(TypedDict, total=False):
    """The keyword arguments every tuner takes; see :class:`Tuner`."""

    objective: str | Objective
    max_trials: int | None
    time_limit: float | None
    directory: str | os.PathLike[str]
    project_name: str
    overwrite: bool
    seed: int | None
    storage: str | BaseStorage | None
    pruner: str | BasePruner | None
    max_consecutive_failures: int


class SearchFailedError(RuntimeError):
    """Too many trials in a row failed; the search stopped."""


class _BudgetReached(Exception):  # noqa: N818 - control flow, not an error
    """Raised by ``hp.report`` when a trial has used the epochs Hyperband gave it."""


class Tuner:
    """The base of every tuner: an Optuna study in a project directory, run by ask and tell.

    Subclasses choose the sampler (``_make_sampler``) and may schedule trials themselves
    (``_next_trial``, ``_budget``).

    Args:
        hypermodel: ``fn(hp) -> float | dict[str, float]``; it may call ``hp.report(value, step)``
            after each epoch so a pruner or Hyperband can stop it early.
        objective: a metric name (direction inferred for names with loss, error, mse, mae, ...
            or accuracy, auc, r2, f1, ...) or an :class:`Objective`.
        max_trials: finished trials (complete or pruned) the whole study should reach; a
            resumed search counts the trials already there.
        time_limit: seconds after which no new trial starts.
        directory: parent folder of the project directory.
        project_name: the project directory's name and the study's name.
        overwrite: delete an existing study of that name and start afresh.
        seed: makes the sequence of configurations reproducible.
        storage: an Optuna storage URL (``sqlite:///``, ``postgresql://``, ``journal:///f.log``)
            or instance; default a SQLite file in the project directory.
        pruner: ``"median"``, ``"asha"`` (successive halving), ``"hyperband"``, ``"none"`` or an
            Optuna pruner.
        max_consecutive_failures: stop with :class:`SearchFailedError` after this many failed
            trials in a row.
    """

    _default_max_trials: int | None = 10
    _finite_space = False

    def __init__(
        self,
        hypermodel: ObjectiveFn,
        *,
        objective: str | Objective = "val_loss",
        max_trials: int | None = None,
        time_limit: float | None = None,
        directory: str | os.PathLike[str] = "hx_runs",
        project_name: str = "hyperflax",
        overwrite: bool = False,
        seed: int | None = None,
        storage: str | BaseStorage | None = None,
        pruner: str | BasePruner | None = None,
        max_consecutive_failures: int = 3,
    ) -> None:
        if not callable(hypermodel):
            raise TypeError(f"hypermodel must be a callable fn(hp), got {hypermodel!r}")
        _check_int("max_trials", max_trials, low=1, optional=True)
        _check_int("max_consecutive_failures", max_consecutive_failures, low=1)
        _check_int("seed", seed, low=0, optional=True)
        if time_limit is not None and not (isinstance(time_limit, int | float) and time_limit > 0):
            raise ValueError(f"time_limit must be a number of seconds > 0, got {time_limit!r}")
        if not isinstance(project_name, str) or not project_name or os.sep in project_name:
            raise ValueError(f"project_name must be a plain folder name, got {project_name!r}")
        if storage is not None and not isinstance(storage, str | BaseStorage):
            raise TypeError(f"storage must be a URL str or an Optuna storage, got {storage!r}")
        self.hypermodel = hypermodel
        self.objective = as_objective(objective)
        self.max_trials = self._default_max_trials if max_trials is None else max_trials
        self.time_limit = time_limit
        self.directory = directory
        self.project_name = project_name
        self.overwrite = overwrite
        self.seed = seed
        self.storage = storage
        self.pruner = make_pruner(pruner)
        self.max_consecutive_failures = max_consecutive_failures
        self._study: optuna.Study | None = None
        self._reset_pending = overwrite

    # -- extension points --------------------------------------------------------------------

    def _make_sampler(self, seed: int | None) -> BaseSampler:
        return optuna.samplers.RandomSampler(seed=seed)

    def _next_trial(self, study: optuna.Study) -> optuna.Trial | None:
        """The next trial to run, or ``None`` when the search is done."""
        if self.max_trials is not None:
            trials = study.get_trials(deepcopy=False, states=(*FINISHED, TrialState.RUNNING))
            if len(trials) >= self.max_trials:
                return None
        return study.ask()

    def _budget(self, trial: optuna.Trial) -> int | None:
        """The number of epochs a trial may train (Hyperband), or ``None`` for no limit."""
        return None

    # -- the study ---------------------------------------------------------------------------

    @property
    def project_dir(self) -> Path:
        """``directory/project_name``."""
        return _study.project_dir(self.directory, self.project_name)

    @property
    def study(self) -> optuna.Study:
        """The Optuna study, for Optuna's own visualization, dashboard and analysis."""
        if self._study is None:
            self._study = self._open_study(self.seed)
        return self._study

    def _open_study(self, seed: int | None) -> optuna.Study:
        storage = _study.make_storage(self.storage, self.project_dir)
        if self._reset_pending:
            _study.reset_project(storage, self.project_name, self.project_dir)
            self._reset_pending = False
        study = optuna.create_study(
            storage=storage,
            sampler=self._make_sampler(seed),
            pruner=self.pruner,
            study_name=self.project_name,
            direction=self.objective.direction,
            load_if_exists=True,
        )
        _study.check_compatible(study, self.objective, type(self).__name__)
        return study

    # -- searching ---------------------------------------------------------------------------

    def search(self) -> None:
        """Run trials until ``max_trials``, ``time_limit`` or the tuner's own schedule ends.

        A rerun of the same search resumes it: finished trials are kept, trials that a killed
        process left running are marked failed and their configurations retried.

        Raises:
            SearchFailedError: after ``max_consecutive_failures`` failed trials in a row.
            SearchSpaceError: when the search space itself is defined wrongly.
        """
        verbosity = optuna.logging.get_verbosity()
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # hyperflax reports trials itself
        try:
            self._search()
        finally:
            optuna.logging.set_verbosity(verbosity)

    def _search(self) -> None:
        study = self.study
        _study.recover_stale_trials(study)
        # Reseed from the study's size so a resumed search does not replay the first configs.
        if self.seed is not None:
            study.sampler = self._make_sampler(self.seed + len(study.get_trials(deepcopy=False)))
        deadline = None if self.time_limit is None else time.monotonic() + self.time_limit
        failures = 0
        while deadline is None or time.monotonic() < deadline:
            trial = self._next_trial(study)
            if trial is None:
                break
            error = self._run_trial(study, trial)
            failures = failures + 1 if error is not None else 0
            if error is not None and failures >= self.max_consecutive_failures:
                raise SearchFailedError(
                    f"{failures} trials failed in a row (max_consecutive_failures="
                    f"{self.max_consecutive_failures}); the last one with: {error}"
                ) from error

    def _run_trial(self, study: optuna.Study, trial: optuna.Trial) -> BaseException | None:
        """Run one trial and tell the study how it ended; return its error if it failed."""
        budget = self._budget(trial)
        best: list[float] = []

        def report(value: TrialResult, step: int) -> None:
            current = self.objective.value_of(value)
            if not best or self.objective.better(current, best[0]):
                best[:] = [current]
            trial.report(current, step)
            if budget is not None and step + 1 >= budget:
                raise _BudgetReached
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned after step {step}")

        hp = HyperParameters._for_trial(trial, report, finite=self._finite_space)
        try:
            with _study.Heartbeat(trial):
                try:
                    result: TrialResult | None = self._call(hp, trial)
                except _BudgetReached:
                    result = None
            value = best[0] if result is None else self.objective.value_of(result)
            if not math.isfinite(value):
                raise FloatingPointError(f"objective {self.objective.name!r} is {value}")
        except optuna.TrialPruned:
            study.tell(trial, state=TrialState.PRUNED)
            return None
        except KeyboardInterrupt:
            _study.fail_and_retry(
                study, trial, "interrupted by KeyboardInterrupt; configuration retried"
            )
            raise
        except Exception as error:
            self._fail(study, trial, f"{type(error).__name__}: {error}")
            if isinstance(error, SearchSpaceError):
                raise
            logger.warning("trial %d failed: %s: %s", trial.number, type(error).__name__, error)
            return error
        if isinstance(result, Mapping):
            trial.set_user_attr("hx:metrics", {k: float(v) for k, v in result.items()})
        study.tell(trial, value)
        return None

    def _call(self, hp: HyperParameters, trial: optuna.Trial) -> TrialResult:
        return self.hypermodel(hp)

    @staticmethod
    def _fail(study: optuna.Study, trial: optuna.Trial, message: str) -> None:
        trial.set_user_attr(_study.ERROR, message)
        study.tell(trial, state=TrialState.FAIL)

    # -- results -----------------------------------------------------------------------------

    def get_best_trials(self, num_trials: int = 1) -> list[FrozenTrial]:
        """The best complete trials, best first."""
        _check_int("num_trials", num_trials, low=1)
        trials = self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        return sorted(trials, key=lambda t: self.objective.sign * float(t.value or 0.0))[
            :num_trials
        ]

    def get_best_hyperparameters(self, num_trials: int = 1) -> list[HyperParameters]:
        """The hyperparameters of the best complete trials, best first.

        Example:
            >>> best_hp = tuner.get_best_hyperparameters(1)[0]  # doctest: +SKIP
            >>> best_hp.values  # doctest: +SKIP
            {'x': 3.14, 'y': 2.27}
        """
        return [HyperParameters(t.params) for t in self.get_best_trials(num_trials)]

    def trials_dataframe(self) -> pd.DataFrame:
        """Every trial as a row: number, state, value, duration, params, metrics and error."""
        return _results.trials_dataframe(self.study, self.objective)

    def results_summary(self, num_trials: int = 10) -> None:
        """Print a table of the best trials, then the counts and errors of the others."""
        _check_int("num_trials", num_trials, low=1)
        _results.print_summary(self.study, self.objective, self.get_best_trials(num_trials))


def _check_int(name: str, value: Any, *, low: int, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(
            f"{name} must be an int >= {low}{' or None' if optional else ''}, got {value!r}"
        )
