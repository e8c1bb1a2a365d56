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

    A tuner calls :meth:`on_search_begin` once per ``search(...)``, :meth:`on_trial_end` once per
    finished trial (complete, pruned or failed) and :meth:`on_search_end` once at the end.

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
                plain-function objective (then its intermediate values are recorded).
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
