"""Tracking never loses the study: a real MLflow server that dies, and one never there."""

import logging
import os
import signal
import time

from mlflow import MlflowClient
from optuna.trial import TrialState
from tracking_helpers import CONFIG, finish, make_study, track

from hyperflax.tracking import MLflowTracker


def hyperflax_warnings(caplog):
    return [r for r in caplog.records if r.name == "hyperflax" and r.levelno == logging.WARNING]


def test_server_tracks_and_a_dead_server_warns_once_without_failing(
    tmp_path, mlflow_server, caplog
):
    url, process = mlflow_server
    study = make_study()
    trials = [finish(study), finish(study, TrialState.PRUNED), finish(study), finish(study)]
    tracker = MLflowTracker(url)
    tracker.on_search_begin(study, project_dir=tmp_path / "project", config=CONFIG)
    for frozen, history in trials[:2]:
        tracker.on_trial_end(study, frozen, history)

    client = MlflowClient(url)
    experiment_id = client.get_experiment_by_name("demo").experiment_id
    runs = client.search_runs([experiment_id], "tags.`hyperflax.trial_number` != ''")
    assert sorted(run.data.tags["hyperflax.state"] for run in runs) == ["complete", "pruned"]
    history = client.get_metric_history(runs[0].info.run_id, "val_accuracy")
    assert [m.step for m in history] == [1, 2, 3]

    os.killpg(process.pid, signal.SIGKILL)  # the server dies mid-search
    process.wait(timeout=30)
    started = time.monotonic()
    for frozen, history in trials[2:]:
        tracker.on_trial_end(study, frozen, history)
    tracker.on_search_end(study, results=study.trials_dataframe(), best_model_dir=None)
    assert time.monotonic() - started < 30
    (warning,) = hyperflax_warnings(caplog)
    assert "MLflow tracking failed" in warning.getMessage()


def test_unreachable_server_warns_once_and_the_search_goes_on(tmp_path, unused_port, caplog):
    study = make_study()
    started = time.monotonic()
    track(
        MLflowTracker(f"http://127.0.0.1:{unused_port}"),
        study,
        tmp_path,
        [finish(study) for _ in range(3)],
    )
    assert time.monotonic() - started < 30
    assert len(hyperflax_warnings(caplog)) == 1


def test_http_limits_apply_only_during_tracking_calls(tmp_path, monkeypatch, caplog):
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_TIMEOUT", raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3")
    seen = {}

    class Spy(MLflowTracker):
        def _begin(self, study, project_dir, config):
            seen["timeout"] = os.environ.get("MLFLOW_HTTP_REQUEST_TIMEOUT")
            seen["retries"] = os.environ.get("MLFLOW_HTTP_REQUEST_MAX_RETRIES")

    Spy().on_search_begin(make_study(), project_dir=tmp_path, config=CONFIG)
    assert seen == {"timeout": "5", "retries": "3"}  # the user's value stays
    assert "MLFLOW_HTTP_REQUEST_TIMEOUT" not in os.environ
    assert not hyperflax_warnings(caplog)
