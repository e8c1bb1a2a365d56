"""Behaviour every tuner shares; a new tuner is added to TUNERS in conftest.py."""

import math

import optuna
import pytest

import hyperflax as hx


def test_finds_a_good_configuration(make_tuner, stepped):
    tuner = make_tuner(stepped, max_trials=14, seed=0)
    tuner.search()
    best = tuner.get_best_trials(1)[0]
    assert best.value <= 2.2
    assert tuner.get_best_hyperparameters(1)[0].values == best.params
    assert isinstance(tuner.study, optuna.Study)


def test_same_seed_same_configurations(make_tuner, stepped, tmp_path):
    runs = []
    for i in range(2):
        tuner = make_tuner(stepped, max_trials=8, seed=3, directory=tmp_path / f"r{i}")
        tuner.search()
        runs.append([t.params for t in tuner.study.trials])
    assert runs[0] == runs[1]


def test_failed_trials_are_recorded_and_the_search_goes_on(make_tuner):
    calls = []

    def sometimes_fails(hp):
        calls.append(1)
        x = hp.Int("x", 0, 6)
        if len(calls) % 3 == 0:
            raise RuntimeError("simulated out of memory")
        if len(calls) % 3 == 1 and len(calls) > 1:
            return math.nan
        return float(x)

    tuner = make_tuner(sometimes_fails, max_trials=5, seed=0, max_consecutive_failures=10)
    tuner.search()
    frame = tuner.trials_dataframe()
    errors = frame.loc[frame.state == "FAIL", "error"].tolist()
    assert "RuntimeError: simulated out of memory" in errors
    assert any(e.startswith("FloatingPointError: objective 'value' is nan") for e in errors)
    assert (frame.state == "COMPLETE").sum() >= 1


def test_consecutive_failures_stop_the_search_quoting_the_last_error(make_tuner):
    def broken(hp):
        hp.Int("x", 0, 6)
        raise ValueError("shape mismatch in layer 2")

    tuner = make_tuner(broken, max_trials=20, max_consecutive_failures=3)
    with pytest.raises(
        hx.tuners.SearchFailedError, match=r"3 trials failed in a row.*shape mismatch"
    ):
        tuner.search()
    assert len(tuner.study.trials) == 3


def test_results_summary_prints_best_trials_and_failures(make_tuner, capsys):
    def fn(hp):
        x = hp.Int("x", 0, 6)
        if x == 6:
            raise RuntimeError("bad x")
        return float(x)

    tuner = make_tuner(fn, max_trials=10, seed=0, max_consecutive_failures=10)
    tuner.search()
    tuner.results_summary(3)
    out = capsys.readouterr().out
    assert "best trials by value (minimize)" in out and "complete" in out
    if (tuner.trials_dataframe().state == "FAIL").any():
        assert "failed: RuntimeError: bad x" in out


def test_search_space_errors_stop_the_search_at_once(make_tuner):
    tuner = make_tuner(lambda hp: hp.Int("x", 5, 1), max_trials=5)
    with pytest.raises(hx.SearchSpaceError, match="'x': low must be <= high"):
        tuner.search()
    assert len(tuner.study.trials) == 1


def test_time_limit_starts_no_new_trial_after_it(make_tuner):
    import time

    def slow(hp):
        time.sleep(0.2)
        return float(hp.Int("x", 0, 6))

    tuner = make_tuner(slow, max_trials=50, time_limit=0.5)
    tuner.search()
    assert 1 <= len(tuner.study.trials) <= 4
