"""The tuner base: one Optuna study, driven trial by trial through ask and tell."""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypedDict

import optuna
import pandas as pd
from optuna.pruners import BasePruner
from optuna.samplers import BaseSampler
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from hyperflax._errors import FatalError, SearchFailedError
from hyperflax.search_spaces import HyperParameters
from hyperflax.tracking import MLflowTracker, Tracker
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
    tracker: Tracker | Literal["mlflow"] | None


class _BudgetReached(Exception):  # noqa: N818 - control flow, not an error
    """Raised by ``hp.report`` when a trial has used the epochs Hyperband gave it."""


class Tuner:
    """The base of every tuner: an Optuna study in a project directory, run by ask and tell.

    Subclasses choose the sampler (``_make_sampler``) and may schedule trials themselves
    (``_next_trial``, ``_budget``).

    Args:
        hypermodel: a :class:`~hyperflax.HyperModel` to train, or a plain function
            ``fn(hp) -> float | dict[str, float]`` that may call ``hp.report(value, step)``
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
        tracker: where every trial is recorded: ``"mlflow"`` (an
            :class:`~hyperflax.tracking.MLflowTracker` on the embedded store in the project
            directory, or ``MLFLOW_TRACKING_URI``), a :class:`~hyperflax.tracking.Tracker`, or
            ``None`` for no tracking.
    """

    _default_max_trials: int | None = 10
    _finite_space = False
    _budget_driven = False  # True when the tuner decides each trial's epochs (Hyperband)

    def __init__(
        self,
        hypermodel: Any,
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
        tracker: Tracker | Literal["mlflow"] | None = "mlflow",
    ) -> None:
        if not (callable(hypermodel) or _is_hypermodel(hypermodel)):
            raise TypeError(
                f"hypermodel must be a HyperModel or a function fn(hp), got {hypermodel!r}"
            )
        check_int("max_trials", max_trials, low=1, optional=True)
        check_int("max_consecutive_failures", max_consecutive_failures, low=1)
        check_int("seed", seed, low=0, optional=True)
        if time_limit is not None and not (isinstance(time_limit, int | float) and time_limit > 0):
            raise ValueError(f"time_limit must be a number of seconds > 0, got {time_limit!r}")
        if not isinstance(project_name, str) or not project_name or os.sep in project_name:
            raise ValueError(f"project_name must be a plain folder name, got {project_name!r}")
        if tracker is not None and tracker != "mlflow" and not isinstance(tracker, Tracker):
            raise TypeError(
                f"tracker must be 'mlflow', a hx.tracking.Tracker or None, got {tracker!r}"
            )
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
        self.tracker: Tracker | None = MLflowTracker() if tracker == "mlflow" else tracker
        self._study: optuna.Study | None = None
        self._reset_pending = overwrite
        self._data: Any = None  # what search() trains a HyperModel on

    # -- extension points --------------------------------------------------------------------

    def _make_sampler(self, seed: int | None) -> BaseSampler:
        return optuna.samplers.RandomSampler(seed=seed)

    def _next_trial(self, study: optuna.Study) -> optuna.Trial | None:
        """The next trial to run, or ``None`` when the search is done."""
        return None if self._max_trials_reached(study.get_trials(deepcopy=False)) else study.ask()

    def _max_trials_reached(self, trials: Sequence[FrozenTrial]) -> bool:
        """Finished trials plus those other workers are running reach ``max_trials``."""
        counted = sum(t.state in (*FINISHED, TrialState.RUNNING) for t in trials)
        return self.max_trials is not None and counted >= self.max_trials

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
        storage = _study.retry_race(lambda: _study.make_storage(self.storage, self.project_dir))
        if self._reset_pending:
            _study.reset_project(storage, self.project_name, self.project_dir)
            self._reset_pending = False
        study = _study.retry_race(
            lambda: optuna.create_study(
                storage=storage,
                sampler=self._make_sampler(seed),
                pruner=self.pruner,
                study_name=self.project_name,
                direction=self.objective.direction,
                load_if_exists=True,
            )
        )
        _study.check_compatible(study, self.objective, type(self).__name__)
        return study

    # -- searching ---------------------------------------------------------------------------

    def search(
        self,
        x: Any = None,
        y: Any = None,
        *,
        validation_data: tuple[Any, Any] | None = None,
        validation_split: float | None = None,
        epochs: int | None = None,
        batch_size: int = 32,
        callbacks: Sequence[Any] = (),
    ) -> None:
        """Run trials until ``max_trials``, ``time_limit`` or the tuner's own schedule ends.

        A plain-function objective takes no arguments here. A HyperModel is trained on
        ``x, y`` for ``epochs`` (Hyperband: up to ``max_epochs``) with ``batch_size``, validated on
        ``validation_data`` or the last ``validation_split`` of the rows, with extra trainer
        ``callbacks``. A rerun of the same search resumes it: finished trials are kept, trials
        that a killed process left running are marked failed and their configurations retried.

        Raises:
            SearchFailedError: after ``max_consecutive_failures`` failed trials in a row.
            SearchSpaceError: when the search space itself is defined wrongly.
            ValueError: for missing or inconsistent arguments, before any trial runs.
        """
        if _is_hypermodel(self.hypermodel):
            self._data = self._fit_data(
                x, y, validation_data, validation_split, epochs, batch_size, callbacks
            )
        else:
            given = {"x": x, "y": y, "validation_data": validation_data, "epochs": epochs}
            if extra := [k for k, v in given.items() if v is not None] + (
                ["validation_split"] * (validation_split is not None)
                + ["callbacks"] * bool(callbacks)
            ):
                raise ValueError(
                    f"a plain-function objective takes no training arguments, got {extra}; "
                    f"pass a hx.HyperModel to train a model on data"
                )
        verbosity = optuna.logging.get_verbosity()
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # hyperflax reports trials itself
        try:
            self._search()
        finally:
            optuna.logging.set_verbosity(verbosity)

    def _search(self) -> None:
        fresh = self._reset_pending
        study = self.study
        _study.recover_stale_trials(study)
        if self.tracker is not None:
            self.tracker.on_search_begin(
                study, project_dir=self.project_dir, config={**self._config(), "overwrite": fresh}
            )
        if self.tracker is None:
            self._run_trials(study)
            return
        try:
            self._run_trials(study)
        except BaseException:  # record what was done, then let the real error through
            self.tracker.on_search_end(study, results=self.trials_dataframe(), best_model_dir=None)
            raise
        self.tracker.on_search_end(
            study, results=self.trials_dataframe(), best_model_dir=self._export_for_tracking()
        )

    def _config(self) -> dict[str, Any]:
        """The tuner's settings as plain values, for tracking."""
        plain = (bool, int, float, str, type(None))
        config = {
            k: v for k, v in vars(self).items() if not k.startswith("_") and isinstance(v, plain)
        }
        config.update(
            tuner=type(self).__name__,
            objective=self.objective.name,
            direction=self.objective.direction,
            pruner=type(self.pruner).__name__,
            directory=str(self.directory),
        )
        return config

    def _export_for_tracking(self) -> Path | None:
        """Export the best model into the project for the tracker; None for plain functions."""
        if self._data is None or not self.get_best_trials(1):
            return None
        try:
            return self.export_best(self.project_dir / "best_model", overwrite=True)
        except Exception as error:  # the study is complete; a failed export must not hide it
            logger.warning("the best model was not exported for tracking: %s", error)
            return None

    def _run_trials(self, study: optuna.Study) -> None:
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
        trial.set_user_attr(_study.OWNER, _study.owner_tag())  # first, so a crash is recoverable
        budget = self._budget(trial)
        best: list[float] = []

        def report(value: TrialResult, step: int) -> None:
            current = self.objective.value_of(value)
            if not best or self.objective.better(current, best[0]):
                best[:] = [current]
            trial.report(current, step)
            if self.tracker is not None:
                metrics = (
                    dict(value) if isinstance(value, Mapping) else {self.objective.name: current}
                )
                self.tracker.on_trial_metrics(study, trial.number, metrics, step)
            if enforce_budget and budget is not None and step + 1 >= budget:
                raise _BudgetReached
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned after step {step}")

        enforce_budget = budget is not None and self._data is None  # a model trains to it itself
        hp = HyperParameters._for_trial(trial, report, finite=self._finite_space)
        if self.tracker is not None:
            self.tracker.on_trial_begin(study, study._storage.get_trial(trial._trial_id))
        history: dict[str, list[float]] | None = None
        error: Exception | None = None
        try:
            with _study.Heartbeat(trial):
                try:
                    result, history = self._call(hp, trial, budget)
                    value = self.objective.value_of(result)
                except _BudgetReached:  # Hyperband stopped a plain function at its budget
                    result, value = None, best[0]
            if not math.isfinite(value):
                raise FloatingPointError(f"objective {self.objective.name!r} is {value}")
            if isinstance(result, Mapping):
                trial.set_user_attr("hx:metrics", {k: float(v) for k, v in result.items()})
            frozen = study.tell(trial, value)
        except optuna.TrialPruned:
            frozen = study.tell(trial, state=TrialState.PRUNED)
        except KeyboardInterrupt:
            _study.fail_and_retry(
                study, trial, "interrupted by KeyboardInterrupt; configuration retried"
            )
            raise
        except Exception as exc:
            error = exc
            frozen = self._fail(study, trial, f"{type(exc).__name__}: {exc}")
            if isinstance(exc, FatalError):
                raise
            logger.warning("trial %d failed: %s: %s", trial.number, type(exc).__name__, exc)
        if self.tracker is not None:
            self.tracker.on_trial_end(study, frozen, history)
        return error

    def _call(
        self, hp: HyperParameters, trial: optuna.Trial, budget: int | None
    ) -> tuple[TrialResult, dict[str, list[float]] | None]:
        """The trial's result, and its per-epoch history when it trains a model."""
        if self._data is None:
            return self.hypermodel(hp), None
        from hyperflax.tuners import _training

        parent = trial.user_attrs.get("hx:slot_parent")
        trial.set_user_attr("hx:devices", _training.devices())
        return _training.train_trial(
            self.hypermodel,
            hp,
            self._data,
            objective=self.objective,
            seed=self.seed or 0,
            epochs=budget if budget is not None else self._data.epochs,
            checkpoint=self._checkpoint(trial.number),
            parent=None if parent is None else self._checkpoint(parent),
            keep_state=self._budget_driven,
        )

    def _checkpoint(self, number: int) -> Path:
        return self.project_dir / "checkpoints" / f"trial_{number:05d}"

    def _fit_data(
        self,
        x: Any,
        y: Any,
        validation_data: tuple[Any, Any] | None,
        validation_split: float | None,
        epochs: int | None,
        batch_size: int,
        callbacks: Sequence[Any],
    ) -> Any:
        from hyperflax.trainers import enable_compilation_cache, split_validation
        from hyperflax.tuners import _training

        if x is None or y is None:
            raise ValueError("search(x, y, ...) needs training data x and y to train a HyperModel")
        if self._budget_driven:
            epochs = None
        else:
            check_int("epochs", epochs, low=1)
        check_int("batch_size", batch_size, low=1)
        if validation_data is not None and validation_split is not None:
            raise ValueError("pass validation_data or validation_split, not both")
        if validation_split is not None:
            x, y, validation_data = split_validation(x, y, validation_split)
        metrics = self.hypermodel.metrics
        if all(isinstance(m, str) for m in metrics):  # a callable's log name is its own
            logged = {"loss", *metrics}
            logged |= {f"val_{name}" for name in logged}
            if self.objective.name not in logged:
                raise ValueError(
                    f"objective {self.objective.name!r} is not logged by this HyperModel; "
                    f"choose one of {sorted(logged)} or add the metric to metrics="
                )
        if self.objective.name.startswith("val_") and validation_data is None:
            raise ValueError(
                f"objective {self.objective.name!r} needs validation_data= or validation_split="
            )
        enable_compilation_cache(self.project_dir / "compile_cache")
        return _training.FitData(x, y, validation_data, epochs, batch_size, tuple(callbacks))

    @staticmethod
    def _fail(study: optuna.Study, trial: optuna.Trial, message: str) -> FrozenTrial:
        trial.set_user_attr(_study.ERROR, message)
        return study.tell(trial, state=TrialState.FAIL)

    # -- results -----------------------------------------------------------------------------

    def get_best_trials(self, num_trials: int = 1) -> list[FrozenTrial]:
        """The best complete trials, best first."""
        check_int("num_trials", num_trials, low=1)
        trials = self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        return self.objective.rank(trials)[:num_trials]

    def get_best_hyperparameters(self, num_trials: int = 1) -> list[HyperParameters]:
        """The hyperparameters of the best complete trials, best first.

        Example:
            >>> best_hp = tuner.get_best_hyperparameters(1)[0]  # doctest: +SKIP
            >>> best_hp.values  # doctest: +SKIP
            {'x': 3.14, 'y': 2.27}
        """
        return [HyperParameters(t.params) for t in self.get_best_trials(num_trials)]

    def get_best_models(self, num_trials: int = 1) -> list[Any]:
        """The trained models of the best trials, best first, with their best-epoch weights.

        Rebuilds each model from its hyperparameters and loads the weights saved when it
        trained; nothing is retrained.

        Example:
            >>> model = tuner.get_best_models(1)[0]  # doctest: +SKIP
        """
        if not _is_hypermodel(self.hypermodel):
            raise TypeError(
                "get_best_models needs a HyperModel search; a plain function has no model"
            )
        from hyperflax.tuners import _training

        return [
            _training.load_trained(
                self.hypermodel,
                HyperParameters(t.params),
                self.seed or 0,
                self._checkpoint(t.number),
            )
            for t in self.get_best_trials(num_trials)
        ]

    def export_best(
        self, path: str | os.PathLike[str], *, example_input: Any = None, overwrite: bool = False
    ) -> Path:
        """Export the best model as one directory that is also an MLflow model.

        The artifact runs without the code that defined the model (``hx.load_model(path)``,
        ``mlflow.pyfunc.load_model(path)``, ``mlflow models serve -m path``). It records the
        trial's hyperparameters and metrics; cross-entropy models are classifiers.

        Args:
            path: the directory to write (atomically).
            example_input: a batch of inputs; defaults to the first row the search trained on.
            overwrite: replace an existing export.

        Example:
            >>> tuner.export_best("exported/digits")  # doctest: +SKIP
            >>> hx.load_model("exported/digits").predict(x_test)  # doctest: +SKIP
        """
        from hyperflax.export import export_model

        if example_input is None:
            if self._data is None:
                raise ValueError("pass example_input= (a batch of inputs); no search ran here")
            if isinstance(self._data.x, dict):
                raise ValueError("export_best does not support dict inputs yet; x must be an array")
            example_input = self._data.x[:1]
        trial = self.get_best_trials(1)
        if not trial:
            raise ValueError("there is no complete trial to export yet")
        model = self.get_best_models(1)[0]
        classifier = self.hypermodel.loss in ("cross_entropy", "binary_cross_entropy")
        metadata = {
            "task": "classification" if classifier else "regression",
            "hyperparameters": trial[0].params,
            "metrics": trial[0].user_attrs.get("hx:metrics", {}),
            "objective": {self.objective.name: trial[0].value},
            "trial": trial[0].number,
        }
        return export_model(
            model, path, example_input=example_input, metadata=metadata, overwrite=overwrite
        )

    def trials_dataframe(self) -> pd.DataFrame:
        """Every trial as a row: number, state, value, duration, params, metrics and error."""
        return _results.trials_dataframe(self.study, self.objective)

    def results_summary(self, num_trials: int = 10) -> None:
        """Print a table of the best trials, then the counts and errors of the others."""
        check_int("num_trials", num_trials, low=1)
        _results.print_summary(self.study, self.objective, self.get_best_trials(num_trials))


def _is_hypermodel(obj: Any) -> bool:
    """Whether ``obj`` is a HyperModel, without importing Flax when none was ever made."""
    module = sys.modules.get("hyperflax.tuners._hypermodel")
    return module is not None and isinstance(obj, module.HyperModel)


def check_int(name: str, value: Any, *, low: int, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(
            f"{name} must be an int >= {low}{' or None' if optional else ''}, got {value!r}"
        )
