"""Live tracking: a trial's run exists while it trains and its epochs appear as they end."""

import logging
import socket

import pytest
from mlflow import MlflowClient
from optuna.trial import TrialState
from tracking_helpers import CONFIG, SPACE, make_study

from hyperflax.tracking import MLflowTracker, Tracker

EPOCHS = [
    {"loss": 0.9, "val_loss": 0.8, "val_accuracy": 0.6},
    {"loss": 0.5, "val_loss": 0.4, "val_accuracy": 0.7},
]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sqlite_uri(path):
    return f"sqlite:///{path}"


def begin(tracker, study, epochs=EPOCHS):
    """Ask a trial and drive ``tracker`` through its start and ``epochs`` as a tuner does."""
    trial = study.ask(SPACE)
    tracker.on_trial_begin(study, study._storage.get_trial(trial._trial_id))
    for step, logs in enumerate(epochs):
        trial.report(logs["val_accuracy"], step)
        tracker.on_trial_metrics(study, trial.number, logs, step)
    return trial


def history_of(epochs):
    return {"epoch": list(range(len(epochs)))} | {
        name: [logs[name] for logs in epochs] for name in epochs[0]
    }


def trial_runs(client, experiment_id, number):
    return client.search_runs([experiment_id], f"tags.`hyperflax.trial_number` = '{number}'")


@pytest.fixture
def live(tmp_path, project):
    """A tracker on its own SQLite store with a search begun; (tracker, study, client, exp id)."""
    uri = sqlite_uri(tmp_path / "live.db")
    study = make_study()
    tracker = MLflowTracker(uri, live_every_s=0)
    tracker.on_search_begin(study, project_dir=project, config=CONFIG)
    client = MlflowClient(uri)
    return tracker, study, client, client.get_experiment_by_name("demo").experiment_id


def test_run_and_epochs_are_visible_while_the_trial_trains(live):
    tracker, study, client, experiment_id = live
    trial = begin(tracker, study)

    (run,) = trial_runs(client, experiment_id, trial.number)
    assert run.info.status == "RUNNING"
    assert run.info.run_name == "trial-0"
    assert run.data.tags["hyperflax.trial_number"] == "0"
    (parent,) = client.search_runs([experiment_id], "tags.`hyperflax.study` = 'demo'")
    assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert "hyperflax.version" in run.data.tags
    frozen = study._storage.get_trial(trial._trial_id)
    assert run.info.start_time == int(frozen.datetime_start.timestamp() * 1000)
    history = client.get_metric_history(run.info.run_id, "val_loss")
    assert [(m.step, m.value) for m in history] == [(0, 0.8), (1, 0.4)]
    assert [m.step for m in client.get_metric_history(run.info.run_id, "loss")] == [0, 1]


def test_trial_end_finishes_the_same_run_without_duplicated_points(live):
    tracker, study, client, experiment_id = live
    trial = begin(tracker, study)
    trial.set_user_attr("hx:metrics", EPOCHS[-1])
    frozen = study.tell(trial, 0.7)
    tracker.on_trial_end(study, frozen, history_of(EPOCHS))

    (run,) = trial_runs(client, experiment_id, 0)
    assert run.info.status == "FINISHED"
    assert run.info.end_time == int(frozen.datetime_complete.timestamp() * 1000)
    assert run.data.tags["hyperflax.state"] == "complete"
    assert run.data.params == {k: str(v) for k, v in frozen.params.items()}
    for name in ("loss", "val_loss", "val_accuracy"):
        assert [m.step for m in client.get_metric_history(run.info.run_id, name)] == [0, 1]
    assert run.data.metrics["objective/val_accuracy"] == pytest.approx(0.7)
    assert run.data.metrics["final/val_loss"] == pytest.approx(0.4)


def test_epochs_not_logged_live_are_logged_at_the_end(live):
    tracker, study, client, experiment_id = live
    trial = begin(tracker, study, EPOCHS[:1])
    longer = [*EPOCHS, {"loss": 0.2, "val_loss": 0.3, "val_accuracy": 0.8}]
    tracker.on_trial_end(study, study.tell(trial, 0.8), history_of(longer))

    (run,) = trial_runs(client, experiment_id, 0)
    history = client.get_metric_history(run.info.run_id, "val_loss")
    assert [(m.step, m.value) for m in history] == [(0, 0.8), (1, 0.4), (2, 0.3)]


def test_live_writes_are_spaced_and_the_points_between_go_with_the_trial_end(live):
    tracker, study, client, experiment_id = live
    tracker.live_every_s = 3600.0
    longer = [*EPOCHS, {"loss": 0.2, "val_loss": 0.3, "val_accuracy": 0.8}]
    trial = begin(tracker, study, longer)
    (run,) = trial_runs(client, experiment_id, 0)
    assert [m.step for m in client.get_metric_history(run.info.run_id, "val_loss")] == [0]

    tracker.on_trial_end(study, study.tell(trial, 0.8), history_of(longer))
    history = client.get_metric_history(run.info.run_id, "val_loss")
    assert [(m.step, m.value) for m in history] == [(0, 0.8), (1, 0.4), (2, 0.3)]


def test_failed_trial_after_begin_is_failed_with_its_error(live):
    tracker, study, client, experiment_id = live
    trial = begin(tracker, study)
    trial.set_user_attr("hx:error", "FloatingPointError: nan loss")
    frozen = study.tell(trial, state=TrialState.FAIL)
    tracker.on_trial_end(study, frozen, None)  # no history: its intermediate values are logged

    (run,) = trial_runs(client, experiment_id, 0)
    assert run.info.status == "FAILED"
    assert run.data.tags["hyperflax.state"] == "failed"
    assert run.data.tags["hyperflax.error"] == "FloatingPointError: nan loss"
    history = client.get_metric_history(run.info.run_id, "val_accuracy")
    assert [(m.step, m.value) for m in history] == [(0, 0.6), (1, 0.7)]
    assert "objective/val_accuracy" not in run.data.metrics


def test_resumed_search_reuses_an_unfinished_run_and_skips_a_finished_one(tmp_path, project):
    uri, storage = sqlite_uri(tmp_path / "live.db"), sqlite_uri(tmp_path / "study.db")
    study = make_study(storage=storage)
    first = MLflowTracker(uri, live_every_s=0)  # every point written before the process dies
    first.on_search_begin(study, project_dir=project, config=CONFIG)
    done = begin(first, study)
    first.on_trial_end(study, study.tell(done, 0.7), history_of(EPOCHS))
    interrupted = begin(first, study)  # the process dies during this trial

    resumed = make_study(storage=storage)
    second = MLflowTracker(uri)
    second.on_search_begin(resumed, project_dir=project, config=CONFIG)
    for frozen in resumed.trials:  # re-announcing a trial changes nothing
        second.on_trial_begin(resumed, frozen)
    second.on_trial_metrics(resumed, 0, {"val_loss": 9.0}, 0)  # a finished run is left as is
    failed = resumed.tell(interrupted.number, state=TrialState.FAIL)
    second.on_trial_end(resumed, failed, None)
    second.on_trial_end(resumed, resumed.trials[0], history_of(EPOCHS))

    client = MlflowClient(uri)
    experiment_id = client.get_experiment_by_name("demo").experiment_id
    assert len(client.search_runs([experiment_id])) == 1 + 2
    (kept,) = trial_runs(client, experiment_id, 0)
    assert kept.info.status == "FINISHED"
    assert [m.value for m in client.get_metric_history(kept.info.run_id, "val_loss")] == [0.8, 0.4]
    (reused,) = trial_runs(client, experiment_id, 1)
    assert reused.info.status == "FAILED"
    for name in ("val_loss", "val_accuracy"):
        assert [m.step for m in client.get_metric_history(reused.info.run_id, name)] == [0, 1]


def test_unreachable_server_during_live_tracking_warns_once(tmp_path, project, caplog):
    study = make_study()
    tracker = MLflowTracker(f"http://127.0.0.1:{free_port()}")
    tracker.on_search_begin(study, project_dir=project, config=CONFIG)
    trial = begin(tracker, study)
    tracker.on_trial_end(study, study.tell(trial, 0.7), history_of(EPOCHS))
    tracker.on_search_end(study, results=study.trials_dataframe(), best_model_dir=None)
    warnings = [r for r in caplog.records if r.name == "hyperflax" and r.levelno >= logging.WARNING]
    assert len(warnings) == 1


def test_live_hooks_are_optional_no_ops():
    class Minimal(Tracker):
        def on_search_begin(self, study, *, project_dir, config):
            pass

        def on_trial_end(self, study, trial, history):
            pass

        def on_search_end(self, study, *, results, best_model_dir):
            pass

    assert Tracker.__abstractmethods__ == {"on_search_begin", "on_trial_end", "on_search_end"}
    study = make_study()
    trial = study.ask(SPACE)
    Minimal().on_trial_begin(study, study._storage.get_trial(trial._trial_id))
    Minimal().on_trial_metrics(study, trial.number, {"loss": 1.0}, 0)
