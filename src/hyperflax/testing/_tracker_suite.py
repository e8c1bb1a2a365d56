"""The tracker conformance suite: every hook called, in order, through a real search."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import optuna
import pytest

from hyperflax.search_spaces import HyperParameters
from hyperflax.tracking import Tracker
from hyperflax.tuners import Objective, RandomSearch

_N_TRIALS = 4
_EPOCHS = 3


class _Recording(Tracker):
    """Delegates every hook to the tracker under test and records the calls."""

    def __init__(self, inner: Tracker) -> None:
        self.inner = inner
        self.calls: list[tuple[str, int | None]] = []

    def on_search_begin(self, study: Any, *, project_dir: Path, config: dict[str, Any]) -> None:
        self.calls.append(("on_search_begin", None))
        self.inner.on_search_begin(study, project_dir=project_dir, config=config)

    def on_trial_begin(self, study: Any, trial: optuna.trial.FrozenTrial) -> None:
        self.calls.append(("on_trial_begin", trial.number))
        self.inner.on_trial_begin(study, trial)

    def on_trial_metrics(
        self, study: Any, number: int, metrics: dict[str, float], step: int
    ) -> None:
        self.calls.append(("on_trial_metrics", number))
        self.inner.on_trial_metrics(study, number, metrics, step)

    def on_trial_end(
        self, study: Any, trial: optuna.trial.FrozenTrial, history: dict[str, list[float]] | None
    ) -> None:
        self.calls.append(("on_trial_end", trial.number))
        self.inner.on_trial_end(study, trial, history)

    def on_search_end(self, study: Any, *, results: Any, best_model_dir: Path | None) -> None:
        self.calls.append(("on_search_end", None))
        self.inner.on_search_end(study, results=results, best_model_dir=best_model_dir)


def _objective(hp: HyperParameters) -> float:
    """Trial 1 fails, the others report ``_EPOCHS`` steps and complete."""
    x = hp.Float("x", 0.0, 1.0)
    if hp.trial_number == 1:
        raise RuntimeError("this trial fails on purpose")
    for step in range(_EPOCHS):
        hp.report(x + 1.0 / (step + 1), step=step)
    return x


class TrackerConformance:
    """Every behaviour a hyperflax tracker must have; subclass it and define :meth:`make_tracker`.

    A real :class:`~hyperflax.tuners.RandomSearch` runs five trials of a plain function (the
    second fails) through the tracker; the suite checks that every hook is called, in order,
    and that the tracker never raised (a tracker that raises is switched off by the tuner,
    which the suite would see as missing calls and a warning).

    Example:
        >>> import hyperflax as hx
        >>> class TestMLflowTracker(TrackerConformance):
        ...     def make_tracker(self, tmp_path):
        ...         return hx.tracking.MLflowTracker(f"sqlite:///{tmp_path / 'mlflow.db'}")
    """

    def make_tracker(self, tmp_path: Path) -> Tracker:
        """Build the tracker under test; ``tmp_path`` is a fresh directory it may write to."""
        raise NotImplementedError("define make_tracker(self, tmp_path) in your subclass")

    def _search(self, tmp_path: Path, **options: Any) -> tuple[_Recording, RandomSearch]:
        recording = _Recording(self.make_tracker(tmp_path))
        tuner = RandomSearch(
            _objective,
            objective=Objective("value", "min"),
            directory=tmp_path / "runs",
            seed=0,
            tracker=recording,
            max_consecutive_failures=2,
            **options,
        )
        tuner.search()
        return recording, tuner

    def test_every_hook_is_called_in_order(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        with caplog.at_level(logging.WARNING, logger="hyperflax"):
            recording, _ = self._search(tmp_path, max_trials=_N_TRIALS)
        assert not [r for r in caplog.records if "tracker" in r.getMessage()], caplog.text
        expected: list[tuple[str, int | None]] = [("on_search_begin", None)]
        for number in range(_N_TRIALS + 1):  # the failed trial does not count
            expected.append(("on_trial_begin", number))
            expected += [("on_trial_metrics", number)] * (0 if number == 1 else _EPOCHS)
            expected.append(("on_trial_end", number))
        expected.append(("on_search_end", None))
        assert recording.calls == expected

    def test_a_resumed_search_begins_and_ends_again(self, tmp_path: Path) -> None:
        self._search(tmp_path, max_trials=2)
        recording, tuner = self._search(tmp_path, max_trials=3)
        assert [name for name, _ in recording.calls] == [
            "on_search_begin",
            "on_trial_begin",
            *["on_trial_metrics"] * _EPOCHS,
            "on_trial_end",
            "on_search_end",
        ]
        assert len(tuner.study.trials) == 4  # trial 1 failed
