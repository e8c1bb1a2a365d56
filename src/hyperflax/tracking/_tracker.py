"""The protocol between a tuner and whatever records its search."""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pathlib

    import optuna
    import pandas


class Tracker(abc.ABC):
    """Receives a search's events from a tuner; implementations must never raise.

    A tuner calls :meth:`on_search_begin` once per ``search(...)``; for each trial,
    :meth:`on_trial_begin` when the trial starts, :meth:`on_trial_metrics` after each of its
    epochs (or reports) and :meth:`on_trial_end` once it is finished (complete, pruned or
    failed); and :meth:`on_search_end` once at the end. Only :meth:`on_search_begin`,
    :meth:`on_trial_end` and :meth:`on_search_end` must be implemented: the two live-tracking
    methods do nothing unless overridden.

    Example:
        >>> class Printer(Tracker):
        ...     def on_search_begin(self, study, *, project_dir, config):
        ...         print("begin", study.study_name)
        ...
        ...     def on_trial_end(self, study, trial, history):
        ...         print("trial", trial.number, trial.state.name)
        ...
        ...     def on_search_end(self, study, *, results, best_model_dir):
        ...         print("end", len(results))
    """

    @abc.abstractmethod
    def on_search_begin(
        self, study: optuna.Study, *, project_dir: pathlib.Path, config: dict[str, Any]
    ) -> None:
        """Start (or resume) recording a search.

        Args:
            study: the search's Optuna study; it may already hold trials (a resumed search).
            project_dir: the tuner's project directory.
            config: the tuner's JSON-able settings (tuner class, objective, direction, ...).
        """

    def on_trial_begin(  # noqa: B027 - optional hook, a no-op unless overridden
        self, study: optuna.Study, trial: optuna.trial.FrozenTrial
    ) -> None:
        """Note that a trial starts (optional; the default does nothing).

        Called right after the tuner asks for the trial, before it trains. The trial is RUNNING
        and its params may still be empty: define-by-run hyperparameters are sampled while the
        model is built (they are complete in :meth:`on_trial_end`).

        Args:
            study: the search's Optuna study.
            trial: the starting trial (state RUNNING).

        Example:
            >>> class Live(Tracker):
            ...     def on_search_begin(self, study, *, project_dir, config): ...
            ...     def on_trial_end(self, study, trial, history): ...
            ...     def on_search_end(self, study, *, results, best_model_dir): ...
            ...     def on_trial_begin(self, study, trial):
            ...         print("trial", trial.number, "starts")
            >>> import optuna
            >>> study = optuna.create_study()
            >>> trial = study.ask()
            >>> Live().on_trial_begin(study, study.trials[trial.number])
            trial 0 starts
        """

    def on_trial_metrics(  # noqa: B027 - optional hook, a no-op unless overridden
        self, study: optuna.Study, number: int, metrics: dict[str, float], step: int
    ) -> None:
        """Record one epoch's (or report's) metrics of a running trial (optional; default no-op).

        Called after each epoch of a model (its logs: ``{"loss": ..., "val_loss": ...}``) or each
        report of a plain function (``{objective_name: value}``), between :meth:`on_trial_begin`
        and :meth:`on_trial_end` of trial ``number``.

        Args:
            study: the search's Optuna study.
            number: the trial's number.
            metrics: the step's metrics by name.
            step: the epoch (or report step) they belong to.

        Example:
            >>> class Live(Tracker):
            ...     def on_search_begin(self, study, *, project_dir, config): ...
            ...     def on_trial_end(self, study, trial, history): ...
            ...     def on_search_end(self, study, *, results, best_model_dir): ...
            ...     def on_trial_metrics(self, study, number, metrics, step):
            ...         print(number, step, metrics)
            >>> import optuna
            >>> Live().on_trial_metrics(optuna.create_study(), 0, {"val_loss": 0.5}, 3)
            0 3 {'val_loss': 0.5}
        """

    @abc.abstractmethod
    def on_trial_end(
        self,
        study: optuna.Study,
        trial: optuna.trial.FrozenTrial,
        history: dict[str, list[float]] | None,
    ) -> None:
        """Record one finished trial.

        Args:
            study: the search's Optuna study.
            trial: the finished trial (state COMPLETE, PRUNED or FAIL).
            history: per-epoch metrics (``{"loss": [...], "epoch": [...]}``), or None for a
                plain-function objective (then its intermediate values are recorded). It may
                repeat epochs already given to :meth:`on_trial_metrics`.
        """

    @abc.abstractmethod
    def on_search_end(
        self,
        study: optuna.Study,
        *,
        results: pandas.DataFrame,
        best_model_dir: pathlib.Path | None,
    ) -> None:
        """Finish recording a search.

        Args:
            study: the search's Optuna study.
            results: the trials table, one row per trial.
            best_model_dir: a directory holding the exported best model, or None.
        """
