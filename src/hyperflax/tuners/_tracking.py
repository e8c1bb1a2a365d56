"""Every tracker hook goes through one guard: a tracker can never break a search."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
from optuna.trial import FrozenTrial

from hyperflax.tracking import Tracker

logger = logging.getLogger("hyperflax")


class GuardedTracker:
    """Calls the hooks of several trackers, each one guarded on its own.

    Whatever a tracker raises in any hook is logged once as a warning and that tracker is
    disabled for the rest of the search; the other trackers, the trial and the study are
    unaffected. The results table and the best model are made only when a tracker that wants
    them is still active (a tracker says it does not with ``wants_best_model = False``).

    Example:
        >>> GuardedTracker([]).active
        []
    """

    def __init__(self, trackers: Sequence[Tracker]) -> None:
        self.active = list(trackers)

    def _call(self, hook: str, action: Callable[[Tracker], None]) -> None:
        for tracker in list(self.active):
            try:
                action(tracker)
            except Exception as exc:
                self.active.remove(tracker)
                logger.warning(
                    "tracker %s failed in %s and is off for the rest of this search (the search "
                    "goes on): %s: %s",
                    type(tracker).__name__,
                    hook,
                    type(exc).__name__,
                    exc,
                )

    def search_begin(self, study: optuna.Study, project_dir: Path, config: dict[str, Any]) -> None:
        """``on_search_begin``."""
        self._call(
            "on_search_begin",
            lambda t: t.on_search_begin(study, project_dir=project_dir, config=config),
        )

    def trial_begin(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """``on_trial_begin``."""
        self._call("on_trial_begin", lambda t: t.on_trial_begin(study, trial))

    def trial_metrics(
        self, study: optuna.Study, number: int, metrics: dict[str, float], step: int
    ) -> None:
        """``on_trial_metrics``."""
        self._call("on_trial_metrics", lambda t: t.on_trial_metrics(study, number, metrics, step))

    def trial_end(
        self, study: optuna.Study, trial: FrozenTrial, history: dict[str, list[float]] | None
    ) -> None:
        """``on_trial_end``."""
        self._call("on_trial_end", lambda t: t.on_trial_end(study, trial, history))

    def search_end(
        self,
        study: optuna.Study,
        results: Callable[[], pd.DataFrame],
        best_model_dir: Callable[[], Path | None],
    ) -> None:
        """``on_search_end``; the results table and the best model are made at most once."""
        table = functools.cache(results)
        model = functools.cache(best_model_dir)
        self._call(
            "on_search_end",
            lambda t: t.on_search_end(
                study,
                results=table(),
                best_model_dir=model() if getattr(t, "wants_best_model", True) else None,
            ),
        )
