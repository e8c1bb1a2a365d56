"""The tuner conformance suite: behaviour every tuner shares, as a pytest class to subclass."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import optuna
import pytest

from hyperflax._errors import SearchFailedError, SearchSpaceError
from hyperflax.search_spaces import HyperParameters
from hyperflax.tuners import Objective, Tuner

MIN = Objective("value", "min")


def stepped(hp: HyperParameters) -> float:
    """A finite space (grid-able) with an epoch loop (Hyperband-able); minimum 1/9 at x=3, k="b".

    Example:
        >>> stepped(HyperParameters({"x": 3, "k": "b"}))
        0.1111111111111111
    """
    x = hp.Int("x", 0, 6)
    k = hp.Choice("k", ["a", "b"])
    for epoch in range(9):
        hp.report((x - 3) ** 2 + (k == "a") + 1.0 / (epoch + 1), step=epoch)
    return (x - 3) ** 2 + (k == "a") + 1.0 / 9


class TunerConformance:
    """Every behaviour a hyperflax tuner must have; subclass it and define :meth:`make_tuner`.

    The suite searches plain functions over a small finite space whose objective is reported
    after each of 9 epochs, so random, model-based, grid and budgeted (Hyperband-like) tuners
    all apply.

    Example:
        >>> import hyperflax as hx
        >>> class TestHyperband(TunerConformance):
        ...     def make_tuner(self, fn, **options):
        ...         return hx.tuners.Hyperband(fn, max_epochs=9, **options)
    """

    def make_tuner(self, fn: Any, **options: Any) -> Tuner:
        """Build the tuner under test on ``fn`` with the common tuner ``options``."""
        raise NotImplementedError("define make_tuner(self, fn, **options) in your subclass")

    def _tuner(self, fn: Any, directory: Path, **options: Any) -> Tuner:
        options.setdefault("objective", MIN)
        options.setdefault("tracker", None)  # tracking has its own suite
        return self.make_tuner(fn, directory=directory, **options)

    def test_finds_a_good_configuration(self, tmp_path: Path) -> None:
        tuner = self._tuner(stepped, tmp_path, max_trials=14, seed=0)
        tuner.search()
        best = tuner.get_best_trials(1)[0]
        assert best.value is not None and best.value <= 2.2
        assert tuner.get_best_hyperparameters(1)[0].values == best.params
        assert isinstance(tuner.study, optuna.Study)

    def test_same_seed_same_configurations(self, tmp_path: Path) -> None:
        runs = []
        for i in range(2):
            tuner = self._tuner(stepped, tmp_path / f"r{i}", max_trials=8, seed=3)
            tuner.search()
            runs.append([t.params for t in tuner.study.trials])
        assert runs[0] == runs[1]

    def test_failed_trials_are_recorded_and_the_search_goes_on(self, tmp_path: Path) -> None:
        calls = []

        def sometimes_fails(hp: HyperParameters) -> float:
            calls.append(1)
            x = hp.Int("x", 0, 6)
            if len(calls) % 3 == 0:
                raise RuntimeError("simulated out of memory")
            if len(calls) % 3 == 1 and len(calls) > 1:
                return math.nan
            return float(x)

        tuner = self._tuner(
            sometimes_fails, tmp_path, max_trials=5, seed=0, max_consecutive_failures=10
        )
        tuner.search()
        frame = tuner.trials_dataframe()
        errors = frame.loc[frame.state == "FAIL", "error"].tolist()
        assert "RuntimeError: simulated out of memory" in errors
        assert any(e.startswith("FloatingPointError: objective 'value' is nan") for e in errors)
        assert (frame.state == "COMPLETE").sum() >= 1

    def test_consecutive_failures_stop_the_search_quoting_the_last_error(
        self, tmp_path: Path
    ) -> None:
        def broken(hp: HyperParameters) -> float:
            hp.Int("x", 0, 6)
            raise ValueError("shape mismatch in layer 2")

        tuner = self._tuner(broken, tmp_path, max_trials=20, max_consecutive_failures=3)
        with pytest.raises(SearchFailedError, match=r"3 trials failed in a row.*shape mismatch"):
            tuner.search()
        assert len(tuner.study.trials) == 3

    def test_results_summary_prints_best_trials_and_failures(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        def fn(hp: HyperParameters) -> float:
            x = hp.Int("x", 0, 6)
            if x == 6:
                raise RuntimeError("bad x")
            return float(x)

        tuner = self._tuner(fn, tmp_path, max_trials=10, seed=0, max_consecutive_failures=10)
        tuner.search()
        tuner.results_summary(3)
        out = capsys.readouterr().out
        assert "best trials by value (minimize)" in out and "complete" in out
        if (tuner.trials_dataframe().state == "FAIL").any():
            assert "failed: RuntimeError: bad x" in out

    def test_search_space_errors_stop_the_search_at_once(self, tmp_path: Path) -> None:
        tuner = self._tuner(lambda hp: hp.Int("x", 5, 1), tmp_path, max_trials=5)
        with pytest.raises(SearchSpaceError, match="'x': low must be <= high"):
            tuner.search()
        assert len(tuner.study.trials) == 1

    def test_time_limit_starts_no_new_trial_after_it(self, tmp_path: Path) -> None:
        def slow(hp: HyperParameters) -> float:
            time.sleep(0.2)
            return float(hp.Int("x", 0, 6))

        tuner = self._tuner(slow, tmp_path, max_trials=50, time_limit=0.5)
        tuner.search()
        assert 1 <= len(tuner.study.trials) <= 4

    def test_an_interrupted_trial_is_retried_once_on_resume(self, tmp_path: Path) -> None:
        calls = []

        def interrupted_once(hp: HyperParameters) -> float:
            calls.append((hp.Int("x", 0, 6), hp.Choice("k", ["a", "b"])))
            if len(calls) == 2:
                raise KeyboardInterrupt
            return stepped(hp)

        tuner = self._tuner(interrupted_once, tmp_path, max_trials=4, seed=0)
        with pytest.raises(KeyboardInterrupt):
            tuner.search()
        self._tuner(interrupted_once, tmp_path, max_trials=4, seed=0).search()
        frame = tuner.trials_dataframe()
        assert (frame.state == "COMPLETE").sum() == 4
        assert frame.error.dropna().str.contains("KeyboardInterrupt").sum() == 1
        assert calls[2] == calls[1]  # the interrupted configuration runs first on resume
