"""A killed or interrupted search resumes: nothing completed is lost or run twice."""

import datetime
import signal
import subprocess
import sys
import textwrap

import optuna
import pytest

import hyperflax as hx

SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    import hyperflax as hx

    # Ctrl-C raises KeyboardInterrupt even when started from a shell's background job (which
    # inherits SIGINT ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    calls = []

    def objective(hp):
        calls.append(1)
        x = hp.Float("x", -5.0, 5.0)
        y = hp.Int("y", 0, 100)
        if len(calls) == int(os.environ.get("HX_DIE_AT", 0)):
            os.kill(os.getpid(), getattr(signal, os.environ["HX_SIGNAL"]))
        return x * x + y

    tuner = hx.tuners.{tuner}(
        objective, objective=hx.Objective("value", "min"), max_trials=8, seed=0,
        directory=sys.argv[1], project_name="resume")
    tuner.search()
    """
)


def _run(tmp_path, tuner, **env):
    script = tmp_path / "search.py"
    script.write_text(SCRIPT.replace("{tuner}", tuner))
    return subprocess.run(
        [sys.executable, str(script), str(tmp_path / "runs")],
        env={**__import__("os").environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def _study(tmp_path):
    return optuna.load_study(
        study_name="resume", storage=f"sqlite:///{tmp_path / 'runs' / 'resume' / 'study.db'}"
    )


@pytest.mark.parametrize("tuner", ["RandomSearch", "BayesianOptimization"])
def test_sigkill_mid_trial_then_rerun(tmp_path, tuner):
    killed = _run(tmp_path, tuner, HX_DIE_AT="4", HX_SIGNAL="SIGKILL")
    assert killed.returncode == -signal.SIGKILL
    states = [t.state for t in _study(tmp_path).trials]
    assert states == [optuna.trial.TrialState.COMPLETE] * 3 + [optuna.trial.TrialState.RUNNING]
    killed_params = _study(tmp_path).trials[3].params

    rerun = _run(tmp_path, tuner)
    assert rerun.returncode == 0, rerun.stderr
    trials = _study(tmp_path).trials
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 8
    assert len({tuple(sorted(t.params.items())) for t in complete}) == 8  # none repeated
    failed = [t for t in trials if t.state == optuna.trial.TrialState.FAIL]
    assert [t.number for t in failed] == [3]
    assert "worker process died" in failed[0].user_attrs["hx:error"]
    retry = next(t for t in trials if t.user_attrs.get("hx:retry_of") == 3)
    assert retry.params == killed_params and retry.state == optuna.trial.TrialState.COMPLETE


def test_ctrl_c_leaves_the_study_consistent(tmp_path):
    interrupted = _run(tmp_path, "RandomSearch", HX_DIE_AT="3", HX_SIGNAL="SIGINT")
    assert interrupted.returncode != 0 and "KeyboardInterrupt" in interrupted.stderr
    trials = _study(tmp_path).trials
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE", "FAIL", "WAITING"]
    assert "KeyboardInterrupt" in trials[2].user_attrs["hx:error"]
    assert _run(tmp_path, "RandomSearch").returncode == 0
    assert sum(t.state.name == "COMPLETE" for t in _study(tmp_path).trials) == 8


def test_rerun_of_a_finished_search_runs_nothing(tmp_path):
    def make():
        return hx.tuners.RandomSearch(
            lambda hp: hp.Float("x", 0.0, 1.0), objective=hx.Objective("v", "min"), max_trials=4
        )

    make().search()
    tuner = make()
    tuner.search()
    assert len(tuner.study.trials) == 4
    tuner.max_trials = 6  # a larger budget continues the same study
    tuner.search()
    assert len(tuner.study.trials) == 6


def test_overwrite_starts_afresh_and_a_mismatched_objective_is_refused(tmp_path):
    hx.tuners.RandomSearch(
        lambda hp: hp.Float("x", 0.0, 1.0), objective="loss", max_trials=3
    ).search()
    with pytest.raises(
        ValueError, match=r"created with objective='loss', not 'accuracy'.*overwrite=True"
    ):
        hx.tuners.RandomSearch(lambda hp: 1.0, objective="accuracy", max_trials=3).search()
    tuner = hx.tuners.RandomSearch(
        lambda hp: 1.0, objective="accuracy", max_trials=2, overwrite=True
    )
    tuner.search()
    assert len(tuner.study.trials) == 2


def test_journal_storage(tmp_path):
    storage = f"journal://{tmp_path / 'study.log'}"
    for _ in range(2):
        tuner = hx.tuners.RandomSearch(
            lambda hp: hp.Float("x", 0.0, 1.0), objective="loss", max_trials=3, storage=storage
        )
        tuner.search()
    assert len(tuner.study.trials) == 3 and (tmp_path / "study.log").exists()


def test_a_trial_left_running_without_an_owner_is_retried_by_an_immediate_rerun(tmp_path):
    # A worker killed between study.ask() and naming itself on the trial leaves it RUNNING
    # with no owner; the next search must recover it at once, not count it as alive.
    (tmp_path / "resume").mkdir()
    storage = f"sqlite:///{tmp_path / 'resume' / 'study.db'}"
    study = optuna.create_study(study_name="resume", storage=storage)
    study.add_trial(
        optuna.trial.FrozenTrial(
            number=0,
            state=optuna.trial.TrialState.RUNNING,
            value=None,
            datetime_start=datetime.datetime.now() - datetime.timedelta(seconds=60),
            datetime_complete=None,
            params={"x": 1.5},
            distributions={"x": optuna.distributions.FloatDistribution(-5.0, 5.0)},
            user_attrs={},
            system_attrs={},
            intermediate_values={},
            trial_id=0,
        )
    )
    tuner = hx.tuners.RandomSearch(
        lambda hp: hp.Float("x", -5.0, 5.0) ** 2,
        objective=hx.Objective("value", "min"),
        max_trials=4,
        seed=0,
        directory=tmp_path,
        project_name="resume",
        tracker=None,
        verbose=0,
    )
    tuner.search()
    trials = optuna.load_study(study_name="resume", storage=storage).trials
    states = [t.state.name for t in trials]
    assert states.count("COMPLETE") == 4 and states[0] == "FAIL" and "RUNNING" not in states
    retry = next(t for t in trials if t.user_attrs.get("hx:retry_of") == 0)
    assert retry.params == {"x": 1.5} and retry.state.name == "COMPLETE"
