"""Every tracker hook goes through one guard: a tracker can never break a search."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
from optuna.trial import FrozenTrial

from hyperflax.tracking import Tracker

logger = logging.getLogger("hyperflax")


class GuardedTracker:
    """Calls a :class:`~hyperflax.tracking.Tracker`'s hooks; the first exception turns it off.

    Whatever a tracker raises in any hook is logged once as a warning and the tracker is
    disabled for the rest of the search; the trial and the study are unaffected. With no
    tracker every call does nothing.

    Example:
        >>> GuardedTracker(None).active
        False
    """

    def __init__(self, tracker: Tracker | None) -> None:
        self.tracker = tracker
        self.active = tracker is not None

    def _call(self, hook: str, action: Callable[[Tracker], None]) -> None:
        if not self.active or self.tracker is None:
            return
        try:
            action(self.tracker)
        except Exception as exc:
            self.active = False
            logger.warning(
                "tracker %s failed in %s and is off for the rest of this search (the search "
                "goes on): %s: %s",
                type(self.tracker).__name__,
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
        """``on_search_end``; the results table and the best model are made only when active."""
        self._call(
            "on_search_end",
            lambda t: t.on_search_end(study, results=results(), best_model_dir=best_model_dir()),
        )
