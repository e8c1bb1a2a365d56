"""The tuner base: settings, the project's study, the public way to write a tuner, results."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal, TypedDict

import optuna
import pandas as pd
from optuna.pruners import BasePruner
from optuna.samplers import BaseSampler
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from hyperflax import _study_keys as keys
from hyperflax.search_spaces import HyperParameters
from hyperflax.tracking import MLflowTracker, Tracker
from hyperflax.tuners import _loop, _results, _study
from hyperflax.tuners._checks import check_int
from hyperflax.tuners._objective import Objective, as_objective
from hyperflax.tuners._plan import TrialPlan
from hyperflax.tuners._progress import ProgressReporter
from hyperflax.tuners._pruners import make_pruner
from hyperflax.tuners._runner import SearchArgs, make_runner, searched_name
from hyperflax.tuners._tracking import GuardedTracker

logger = logging.getLogger("hyperflax")


class TunerOptions(TypedDict, total=False):
    """The keyword arguments every tuner takes; see :class:`Tuner`."""

    objective: str | Objective
    max_trials: int | None
    time_limit: float | None
    directory: str | os.PathLike[str]
    project_name: str | None
    overwrite: bool
    seed: int | None
    storage: str | BaseStorage | None
    pruner: str | BasePruner | None
    max_consecutive_failures: int
    tracker: Tracker | Literal["mlflow"] | None
    verbose: int
    population_size: int | Literal["auto"]
    compile_ahead: bool | Literal["auto"]


class Tuner:
    """The base of every tuner: an Optuna study in a project directory, run by ask and tell.

    A tuner is written by overriding two public methods: :meth:`make_sampler` (how
    hyperparameters are sampled) and :meth:`next_trial` (which trial runs next, with which
    fixed values and how many epochs), and setting the class attributes
    :attr:`default_max_trials`, :attr:`finite_space` and :attr:`plans_epochs` where the
    defaults do not fit. The trial loop, failures, resume, tracking and results come with the
    base class. See "Writing your own tuner" in the README.

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
        project_name: the project directory's name and the study's name; by default the
            name of what is searched (e.g. ``train.objective`` for a function ``objective``
            in ``train.py``), so two different searches never share a study by accident.
        overwrite: delete an existing study of that name and start afresh.
        seed: makes the sequence of configurations reproducible.
        storage: an Optuna storage URL (``sqlite:///``, ``postgresql://``, ``journal:///f.log``)
            or instance; default a SQLite file in the project directory.
        pruner: ``"median"``, ``"asha"`` (successive halving), ``"hyperband"``, ``"none"`` or an
            Optuna pruner.
        max_consecutive_failures: stop with :class:`~hyperflax.errors.SearchFailedError` after
            this many failed trials in a row.
        tracker: where every trial is recorded: ``"mlflow"`` (an
            :class:`~hyperflax.tracking.MLflowTracker` on the embedded store in the project
            directory, or ``MLFLOW_TRACKING_URI``), a :class:`~hyperflax.tracking.Tracker`, or
            ``None`` for no tracking.
        verbose: ``1`` prints a line per finished trial (state, objective, hyperparameters,
            duration, best so far, trials done, elapsed time and ETA); ``2`` adds a live bar
            over the running trial's epochs in a terminal; ``0`` prints nothing.
        population_size: how many trials of a HyperModel search train together in one
            ``vmap``-ed program (vectorized trials): each is still its own Optuna trial and
            MLflow run, reported per epoch, pruned and failed on its own. Trials whose models
            share an architecture space (hyperflax's built-in models: any width, depth and
            dropout of the space) share the program; a free slot takes the next trial at
            once. ``"auto"`` is 1 on a CPU (where bench/population.py measured no gain) and 16
            on an accelerator.
        compile_ahead: compile the next trial's programs while the current trial trains (one
            trial at a time, HyperModel searches): the next trial is claimed as the current
            one starts (its hyperparameters sampled without the current result, as with two
            workers) and built in a thread. ``"auto"`` turns it on, on an accelerator, once
            a trial after the first compiled programs of its own (a model whose shapes change;
            hyperflax's built-in models share theirs, so their searches are unchanged) for a
            good part of its time; on a CPU compiling and training share the cores
            (bench/compile_ahead.py: 0.95-1.14x on 2 cores), so ``"auto"`` is off there. A
            claimed trial that a time limit leaves unstarted goes back to the queue (WAITING)
            for the next ``search`` of the study.
    """

    #: ``max_trials`` when none is given; ``None`` lets :meth:`next_trial` end the search.
    default_max_trials: ClassVar[int | None] = 10
    #: Every hyperparameter must have finitely many values (a grid); others raise at definition.
    finite_space: ClassVar[bool] = False
    #: :meth:`next_trial` gives every trial its ``epochs``, so ``search`` needs no ``epochs=``.
    plans_epochs: ClassVar[bool] = False

    def __init__(
        self,
        hypermodel: Any,
        *,
        objective: str | Objective = "val_loss",
        max_trials: int | None = None,
        time_limit: float | None = None,
        directory: str | os.PathLike[str] = "hx_runs",
        project_name: str | None = None,
        overwrite: bool = False,
        seed: int | None = None,
        storage: str | BaseStorage | None = None,
        pruner: str | BasePruner | None = None,
        max_consecutive_failures: int = 3,
        tracker: Tracker | Literal["mlflow"] | None = "mlflow",
        verbose: int = 1,
        population_size: int | Literal["auto"] = 1,
        compile_ahead: bool | Literal["auto"] = "auto",
    ) -> None:
        check_int("max_trials", max_trials, low=1, optional=True)
        check_int("max_consecutive_failures", max_consecutive_failures, low=1)
        check_int("seed", seed, low=0, optional=True)
        if verbose not in (0, 1, 2) or isinstance(verbose, bool):
            raise ValueError(f"verbose must be 0, 1 or 2, got {verbose!r}")
        if time_limit is not None and not (isinstance(time_limit, int | float) and time_limit > 0):
            raise ValueError(f"time_limit must be a number of seconds > 0, got {time_limit!r}")
        searched = searched_name(hypermodel)
        project_name = searched if project_name is None else project_name
        if not isinstance(project_name, str) or not project_name or os.sep in project_name:
            raise ValueError(f"project_name must be a plain folder name, got {project_name!r}")
        if tracker is not None and tracker != "mlflow" and not isinstance(tracker, Tracker):
            raise TypeError(
                f"tracker must be 'mlflow', a hx.tracking.Tracker or None, got {tracker!r}"
            )
        if storage is not None and not isinstance(storage, str | BaseStorage):
            raise TypeError(f"storage must be a URL str or an Optuna storage, got {storage!r}")
        if isinstance(storage, str):
            _study.check_storage_url(storage)
        self.hypermodel = hypermodel
        self.searched = searched
        self.objective = as_objective(objective)
        self.max_trials = self.default_max_trials if max_trials is None else max_trials
        self.time_limit = time_limit
        self.directory = directory
        self.project_name = project_name
        self.overwrite = overwrite
        self.seed = seed
        self.storage = storage
        self.pruner = make_pruner(pruner)
        self.max_consecutive_failures = max_consecutive_failures
        self.tracker: Tracker | None = MLflowTracker() if tracker == "mlflow" else tracker
        self.verbose = verbose
        self.runner = make_runner(hypermodel, self.project_dir, seed or 0)
        if population_size != "auto":
            check_int("population_size", population_size, low=1)
        error = self.runner.population_error() if population_size != 1 else None
        if error:
            raise ValueError(error)
        self.population_size = population_size
        if compile_ahead not in (True, False, "auto"):
            raise ValueError(f"compile_ahead must be True, False or 'auto', got {compile_ahead!r}")
        self.compile_ahead = compile_ahead
        self._study: optuna.Study | None = None
        self._reset_pending = overwrite

    # -- writing a tuner: the public extension points ----------------------------------------

    def make_sampler(self, seed: int | None) -> BaseSampler:
        """The Optuna sampler that picks the hyperparameters a plan leaves open.

        Override to use another sampler; the default samples at random. ``seed`` is derived
        from the tuner's seed and the study's size, so a resumed search does not replay.

        Example:
            >>> import optuna, hyperflax as hx
            >>> class QMC(hx.tuners.Tuner):
            ...     def make_sampler(self, seed):
            ...         return optuna.samplers.QMCSampler(seed=seed)
        """
        return optuna.samplers.RandomSampler(seed=seed)

    def next_trial(self, trials: Sequence[FrozenTrial]) -> TrialPlan | None:
        """The plan of the next trial, or ``None`` when the tuner has nothing more to run.

        Called before each trial, once ``max_trials`` is not reached and no queued trial is
        waiting (queued trials, such as retries of interrupted ones, run first). The default
        leaves everything to the sampler.

        Args:
            trials: every trial of the study, from every worker, in any state (some may still
                be running), except failed trials whose configuration was queued again.

        Example:
            >>> import hyperflax as hx
            >>> class WarmStart(hx.tuners.RandomSearch):
            ...     def next_trial(self, trials):
            ...         if not trials:  # try a known good configuration first
            ...             return hx.tuners.TrialPlan(params={"x": 1.0})
            ...         return super().next_trial(trials)
        """
        return TrialPlan()

    def expected_trials(self) -> int | None:
        """How many finished trials the search aims at, for the progress ETA (``None``: unknown).

        The default is ``max_trials``; a tuner whose plan fixes the count (Hyperband) says so.
        """
        return self.max_trials

    # -- the study ---------------------------------------------------------------------------

    @property
    def project_dir(self) -> Path:
        """``directory/project_name``."""
        return _study.project_dir(self.directory, self.project_name)

    @property
    def study(self) -> optuna.Study:
        """The Optuna study, for Optuna's own visualization, dashboard and analysis."""
        if self._study is None:
            self._study = self._open_study()
        return self._study

    def _open_study(self) -> optuna.Study:
        storage = _study.retry_race(lambda: _study.make_storage(self.storage, self.project_dir))
        if self._reset_pending:
            _study.reset_project(storage, self.project_name, self.project_dir)
            self._reset_pending = False
        study = _study.retry_race(
            lambda: optuna.create_study(
                storage=storage,
                sampler=self.make_sampler(self.seed),
                pruner=self.pruner,
                study_name=self.project_name,
                direction=self.objective.direction,
                load_if_exists=True,
            )
        )
        _study.check_compatible(study, self.objective, type(self).__name__, self.searched)
        if study.metric_names is None:  # named in Optuna's own tools (optuna-dashboard)
            with warnings.catch_warnings():  # experimental in Optuna 5, stable for our use
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                study.set_metric_names([self.objective.name])
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
        """Run trials until ``max_trials``, ``time_limit`` or the tuner's own plan ends.

        A plain-function objective takes no arguments here. A HyperModel is trained on
        ``x, y`` for ``epochs`` (Hyperband: up to ``max_epochs``) with ``batch_size``, validated on
        ``validation_data`` or the last ``validation_split`` of the rows, with extra trainer
        ``callbacks``. A rerun of the same search resumes it: finished trials are kept, trials
        that a killed process left running are marked failed and their configurations retried.

        Raises:
            SearchFailedError: after ``max_consecutive_failures`` failed trials in a row.
            FatalError: at once when a trial raises one, e.g. a
                :class:`~hyperflax.SearchSpaceError` or a :class:`~hyperflax.errors.DataError`.
            ValueError: for missing or inconsistent arguments, before any trial runs.
        """
        args = SearchArgs(x, y, validation_data, validation_split, epochs, batch_size, callbacks)
        self.runner.prepare(args, objective=self.objective, plans_epochs=self.plans_epochs)
        recipe = self.runner.export_recipe()
        if recipe is not None and self.study.user_attrs.get(keys.EXPORT) != recipe:
            self.study.set_user_attr(keys.EXPORT, recipe)  # for `hyperflax export` later
        verbosity = optuna.logging.get_verbosity()
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # hyperflax reports trials itself
        try:
            self._search()
        except KeyboardInterrupt:
            done = sum(
                t.state == TrialState.COMPLETE for t in self.study.get_trials(deepcopy=False)
            )
            raise KeyboardInterrupt(
                f"search interrupted with {done} complete trials kept in {self.project_dir}; the "
                f"running trial is queued to run again: rerun the same code to resume"
            ) from None
        finally:
            optuna.logging.set_verbosity(verbosity)

    def _search(self) -> None:
        fresh = self._reset_pending
        study = self.study
        progress = ProgressReporter(
            self.objective, verbose=self.verbose, expected=self.expected_trials()
        )
        tracker = GuardedTracker([progress, *([self.tracker] if self.tracker else [])])
        with _study.scheduling_lock(self.storage, self.project_dir):
            _study.recover_stale_trials(study)
            worker = _study.join_as_worker(study)
            # Under the lock, workers starting together find or create one MLflow parent run.
            tracker.search_begin(study, self.project_dir, {**self._config(), "overwrite": fresh})
        if self.seed is not None:  # neither a resume nor another worker replays configurations
            n_trials = len(study.get_trials(deepcopy=False))
            study.sampler = self.make_sampler(_loop.seed_for(self.seed, n_trials, worker))
        try:
            exhausted = _loop.run_trials(self, study, tracker)
        except BaseException:  # record what was done, then let the real error through
            tracker.search_end(study, self.trials_dataframe, lambda: None)
            raise
        tracker.search_end(study, self.trials_dataframe, self._export_for_tracking)
        trials = study.get_trials(deepcopy=False)  # one snapshot: ranked and all agree
        complete = [t for t in trials if t.state == TrialState.COMPLETE]
        self.runner.on_search_end(trials, self.objective.rank(complete), exhausted)

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
        """Export the best model into the project for the tracker; None when there is none."""
        best = self.get_best_trials(1)
        if not best:
            return None
        try:
            return self.runner.export_for_tracking(best[0], self.objective)
        except Exception as error:  # the study is complete; a failed export must not hide it
            logger.warning("the best model was not exported for tracking: %s", error)
            return None

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
        trained; nothing is retrained. Only a HyperModel search has models.

        Example:
            >>> model = tuner.get_best_models(1)[0]  # doctest: +SKIP
        """
        return self.runner.load_models(self.get_best_trials(num_trials))

    def export_best(
        self, path: str | os.PathLike[str], *, example_input: Any = None, overwrite: bool = False
    ) -> Path:
        """Export the best model as one directory that is also an MLflow model.

        The artifact runs without the code that defined the model (``hx.load_model(path)``,
        ``mlflow.pyfunc.load_model(path)``, ``hyperflax serve path``). It records the trial's
        hyperparameters and metrics; cross-entropy models are classifiers.

        Args:
            path: the directory to write (atomically).
            example_input: a batch of inputs; defaults to the first row the search trained on.
            overwrite: replace an existing export.

        Example:
            >>> tuner.export_best("exported/digits")  # doctest: +SKIP
            >>> hx.load_model("exported/digits").predict(x_test)  # doctest: +SKIP
        """
        best = self.get_best_trials(1)
        if not best:
            raise ValueError("there is no complete trial to export yet")
        return self.runner.export(
            best[0],
            Path(path),
            objective=self.objective,
            example_input=example_input,
            overwrite=overwrite,
        )

    def trials_dataframe(self) -> pd.DataFrame:
        """Every trial as a row: number, state, value, duration, params, metrics and error."""
        return _results.trials_dataframe(self.study, self.objective)

    def search_space_summary(self) -> None:
        """Print every hyperparameter the trials asked for: kind, range or choices, scale.

        A define-by-run space is known from the trials that ran, so conditional parameters
        appear once a trial took their branch.

        Example:
            >>> tuner.search_space_summary()  # doctest: +SKIP
        """
        _results.space_summary(self.study)

    def get_best_history(self, num_trials: int = 1) -> list[pd.DataFrame]:
        """The per-epoch (per-report) metrics of the best trials, best first.

        One DataFrame per trial with a ``step`` column, a column per reported metric and the
        ``trial`` each step comes from: a trial that continued another (Hyperband) is joined
        to the steps of the trials before it, so the curve starts at epoch 0.

        Example:
            >>> curve = tuner.get_best_history()[0]  # doctest: +SKIP
            >>> curve[["step", "val_loss"]].tail(3)  # doctest: +SKIP
        """
        trials = {t.number: t for t in self.study.get_trials(deepcopy=False)}
        return [_results.history(trials, t.number) for t in self.get_best_trials(num_trials)]

    def results_summary(self, num_trials: int = 10) -> None:
        """Print a table of the best trials, then the counts and errors of the others."""
        check_int("num_trials", num_trials, low=1)
        _results.print_summary(self.study, self.objective, self.get_best_trials(num_trials))
