"""A tuner records every trial in MLflow and exports its best model, end to end."""

import logging
import subprocess
import sys

import mlflow
import numpy as np
import optax
import pytest
from sklearn.datasets import load_digits

import hyperflax as hx


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    return x[:500], y[:500], (x[500:700], y[500:700])


def _hypermodel():
    return hx.HyperModel(
        lambda hp, rngs: hx.models.MLP(
            64, 10, [hp.Int("units", 16, 64)], dropout=hp.Float("dropout", 0.0, 0.3), rngs=rngs
        ),
        optimizer=lambda hp: optax.inject_hyperparams(optax.adam)(
            learning_rate=hp.Float("lr", 1e-3, 1e-2, log=True)
        ),
        metrics=["accuracy"],
    )


def _runs(tmp_path):
    experiment = mlflow.get_experiment_by_name("digits")
    return mlflow.search_runs(experiment_ids=[experiment.experiment_id], output_format="list")


def test_every_trial_is_a_nested_run_and_a_resume_adds_no_duplicates(digits, tmp_path):
    x, y, val = digits

    def search(max_trials):
        tuner = hx.tuners.RandomSearch(
            _hypermodel(),
            objective="val_accuracy",
            max_trials=max_trials,
            seed=0,
            project_name="digits",
        )
        tuner.search(x, y, validation_data=val, epochs=3, batch_size=50)
        return tuner

    search(2)
    tuner = search(3)
    runs = _runs(tmp_path)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    trials = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1 and len(trials) == 3
    assert {r.data.tags["mlflow.parentRunId"] for r in trials} == {parents[0].info.run_id}
    client = mlflow.MlflowClient()
    for run in trials:
        number = int(run.data.tags["hyperflax.trial_number"])
        trial = tuner.study.trials[number]
        assert run.data.params["units"] == str(trial.params["units"])
        assert run.data.tags["hyperflax.state"] == "complete"
        history = client.get_metric_history(run.info.run_id, "val_accuracy")
        assert [m.step for m in history] == [0, 1, 2]
        assert max(m.value for m in history) == pytest.approx(trial.value)
        assert "hyperflax.version" in run.data.tags and "jax.version" in run.data.tags
    artifacts = {a.path for a in client.list_artifacts(parents[0].info.run_id)}
    assert {"results.csv", "best_model"} <= artifacts


def test_an_unreachable_tracking_server_never_loses_the_study(digits, caplog):
    x, y, val = digits
    tracker = hx.tracking.MLflowTracker("http://127.0.0.1:9")  # nothing listens there
    tuner = hx.tuners.RandomSearch(
        _hypermodel(), objective="val_accuracy", max_trials=2, seed=0, tracker=tracker
    )
    with caplog.at_level(logging.WARNING, logger="hyperflax"):
        tuner.search(x, y, validation_data=val, epochs=2, batch_size=50)
    assert sum(t.state.name == "COMPLETE" for t in tuner.study.trials) == 2
    assert len([r for r in caplog.records if "MLflow" in r.getMessage()]) == 1


def test_export_best_runs_without_the_model_code(digits, tmp_path):
    x, y, val = digits
    tuner = hx.tuners.RandomSearch(
        _hypermodel(), objective="val_accuracy", max_trials=2, seed=0, tracker=None
    )
    tuner.search(x, y, validation_data=val, epochs=3, batch_size=50)
    path = tuner.export_best(tmp_path / "exported")
    model = tuner.get_best_models(1)[0]
    expected = np.asarray(model(val[0])).argmax(-1)
    np.save(tmp_path / "x.npy", val[0])
    code = (
        "import sys, numpy as np, hyperflax as hx, mlflow\n"
        f"x = np.load({str(tmp_path / 'x.npy')!r})\n"
        f"p = hx.load_model({str(path)!r})\n"
        "np.save(sys.argv[1], p.predict(x))\n"
        "assert 'flax' not in sys.modules\n"
        f"np.save(sys.argv[2], mlflow.pyfunc.load_model({str(path)!r}).predict(x))\n"
    )
    out, via_mlflow = tmp_path / "pred.npy", tmp_path / "mlflow.npy"
    subprocess.run([sys.executable, "-c", code, str(out), str(via_mlflow)], check=True, timeout=300)
    np.testing.assert_array_equal(np.load(out), expected)
    assert np.load(via_mlflow).reshape(-1).tolist() == expected.tolist()
    assert hx.load_model(path).metadata["hyperparameters"] == tuner.get_best_trials()[0].params


def test_a_running_trial_is_visible_in_mlflow_with_its_curve_so_far():
    seen = {}

    def objective(hp):
        x = hp.Float("x", 0.0, 1.0)
        for step in range(3):
            hp.report({"loss": x + 1.0 / (step + 1), "other": 1.0}, step=step)
        (run,) = mlflow.search_runs(
            experiment_names=["live"],
            filter_string="tags.`hyperflax.trial_number` = '0'",
            output_format="list",
        )
        history = mlflow.MlflowClient().get_metric_history(run.info.run_id, "loss")
        seen.update(status=run.info.status, steps=[m.step for m in history])
        return x

    tracker = hx.tracking.MLflowTracker(live_every_s=0)  # each point as it comes
    tuner = hx.tuners.RandomSearch(
        objective, objective="loss", max_trials=1, project_name="live", tracker=tracker
    )
    tuner.search()
    assert seen == {"status": "RUNNING", "steps": [0, 1, 2]}
    (run,) = mlflow.search_runs(
        experiment_names=["live"],
        filter_string="tags.`hyperflax.trial_number` = '0'",
        output_format="list",
    )
    assert run.info.status == "FINISHED"
    client = mlflow.MlflowClient()
    assert [m.step for m in client.get_metric_history(run.info.run_id, "loss")] == [0, 1, 2]


HOOKS = ["on_search_begin", "on_trial_begin", "on_trial_metrics", "on_trial_end", "on_search_end"]


class _Raising(hx.tracking.Tracker):
    """A third-party tracker that raises in one hook and counts the calls it gets."""

    def __init__(self, hook):
        self.hook = hook
        self.calls = []

    def _event(self, name):
        self.calls.append(name)
        if name == self.hook:
            raise RuntimeError(f"tracker broke in {name}")

    def on_search_begin(self, study, *, project_dir, config):
        self._event("on_search_begin")

    def on_trial_begin(self, study, trial):
        self._event("on_trial_begin")

    def on_trial_metrics(self, study, number, metrics, step):
        self._event("on_trial_metrics")

    def on_trial_end(self, study, trial, history):
        self._event("on_trial_end")

    def on_search_end(self, study, *, results, best_model_dir):
        self._event("on_search_end")


@pytest.mark.parametrize("hook", HOOKS)
def test_a_tracker_that_raises_in_any_hook_warns_once_and_never_breaks_the_search(
    hook, tmp_path, caplog
):
    def fn(hp):
        x = hp.Float("x", 0.0, 1.0)
        for step in range(2):
            hp.report(x + step, step=step)
        return x

    tracker = _Raising(hook)
    tuner = hx.tuners.RandomSearch(
        fn,
        objective=hx.Objective("value", "min"),
        max_trials=3,
        seed=0,
        directory=tmp_path,
        tracker=tracker,
    )
    with caplog.at_level(logging.WARNING, logger="hyperflax"):
        tuner.search()
    assert (tuner.trials_dataframe().state == "COMPLETE").sum() == 3
    warnings = [
        r.getMessage() for r in caplog.records if "tracker _Raising failed" in r.getMessage()
    ]
    assert len(warnings) == 1 and f"in {hook}" in warnings[0], caplog.text
    assert tracker.calls.count(hook) == 1  # switched off after its first failure
    assert tracker.calls[-1] == hook
