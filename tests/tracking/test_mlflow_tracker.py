"""MLflowTracker against real embedded stores, read back through MLflow's own client."""

import importlib.metadata
import textwrap

import mlflow
import optuna
import pandas
import pytest
from mlflow import MlflowClient
from optuna.trial import TrialState
from tracking_helpers import SPACE, finish, make_study, track

from hyperflax._version import __version__
from hyperflax.tracking import MLflowTracker


def sqlite_uri(path):
    return f"sqlite:///{path}"


def trial_runs(client, experiment_id, parent_id):
    runs = client.search_runs([experiment_id], f"tags.mlflow.parentRunId = '{parent_id}'")
    return {int(run.data.tags["hyperflax.trial_number"]): run for run in runs}


def only_parent(client, experiment_id):
    runs = client.search_runs([experiment_id], "tags.`hyperflax.study` = 'demo'")
    assert len(runs) == 1
    return runs[0]


def test_default_store_records_study_as_parent_and_trials_as_nested_runs(
    project, mixed_trials, monkeypatch
):
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    study, trials = mixed_trials
    track(MLflowTracker(), study, project, trials)

    assert (project / "mlflow.db").is_file()
    client = MlflowClient(sqlite_uri(project / "mlflow.db"))
    experiment = client.get_experiment_by_name("demo")
    assert experiment.artifact_location == (project / "mlartifacts").resolve().as_uri()
    parent = only_parent(client, experiment.experiment_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.params["tuner"] == "RandomSearch"
    assert parent.data.params["seed"] == "0"
    assert parent.data.metrics["best/value"] == pytest.approx(study.best_value)
    assert parent.data.tags["hyperflax.best_trial"] == str(study.best_trial.number)
    runs = trial_runs(client, experiment.experiment_id, parent.info.run_id)
    assert sorted(runs) == [0, 1, 2, 3]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", sqlite_uri(project / "mlflow.db"))
    table = mlflow.search_runs(experiment_ids=[experiment.experiment_id])
    assert sorted(table["tags.mlflow.runName"]) == ["demo"] + [f"trial-{n}" for n in range(4)]

    for number, (frozen, _) in enumerate(trials):
        run = runs[number]
        assert run.info.run_name == f"trial-{number}"
        assert run.data.params == {k: str(v) for k, v in frozen.params.items()}
        assert run.data.tags["hyperflax.devices"] == "cpu:0"
        assert run.data.tags["hyperflax.plan"] == '{"epochs": 3}'
        assert run.data.tags["hyperflax.version"] == __version__
        assert run.data.tags["jax.version"] == importlib.metadata.version("jax")
        assert run.info.start_time == int(frozen.datetime_start.timestamp() * 1000)
        assert run.info.end_time == int(frozen.datetime_complete.timestamp() * 1000)
        history = client.get_metric_history(run.info.run_id, "val_accuracy")
        assert [m.step for m in history] == [1, 2, 3]
        assert [m.value for m in history] == pytest.approx([0.6, 0.7, 0.8])
        assert [m.step for m in client.get_metric_history(run.info.run_id, "loss")] == [1, 2, 3]

    assert [runs[n].data.tags["hyperflax.state"] for n in range(4)] == [
        "complete",
        "complete",
        "pruned",
        "failed",
    ]
    assert [runs[n].info.status for n in range(4)] == ["FINISHED"] * 3 + ["FAILED"]
    assert runs[0].data.metrics["objective/val_accuracy"] == pytest.approx(0.8)
    assert runs[0].data.metrics["final/val_accuracy"] == pytest.approx(0.8)
    assert runs[0].data.metrics["best/val_accuracy"] == pytest.approx(0.8)
    assert "objective/val_accuracy" not in runs[3].data.metrics  # a pruned trial has a value
    assert runs[3].data.tags["hyperflax.error"] == "ValueError: boom"
    assert "hyperflax.error" not in runs[0].data.tags


def test_plain_function_logs_intermediate_values_under_the_objective(project):
    study = make_study()
    trial = study.ask(SPACE)
    for step, value in [(0, 0.25), (4, 0.5)]:
        trial.report(value, step)
    frozen = study.tell(trial, 0.5)
    uri = sqlite_uri(project / "explicit.db")
    track(MLflowTracker(uri), study, project, [(frozen, None)])

    client = MlflowClient(uri)
    experiment_id = client.get_experiment_by_name("demo").experiment_id
    run = trial_runs(client, experiment_id, only_parent(client, experiment_id).info.run_id)[0]
    history = client.get_metric_history(run.info.run_id, "val_accuracy")
    assert [(m.step, m.value) for m in history] == [(0, 0.25), (4, 0.5)]
    assert run.data.metrics["objective/val_accuracy"] == 0.5


def test_resumed_search_reuses_parent_and_logs_only_new_trials(tmp_path, project):
    storage = sqlite_uri(tmp_path / "study.db")
    study = make_study(storage=storage)
    track(MLflowTracker(), study, project, [finish(study), finish(study, TrialState.PRUNED)])

    resumed = make_study(storage=storage)  # a new process loads the same study
    again = [(frozen, None) for frozen in resumed.trials]
    new = [finish(resumed), finish(resumed, TrialState.FAIL)]
    track(MLflowTracker(), resumed, project, again + new)

    client = MlflowClient(sqlite_uri(tmp_path / "mlflow.db"))  # the suite's MLFLOW_TRACKING_URI
    experiment_id = client.get_experiment_by_name("demo").experiment_id
    parent = only_parent(client, experiment_id)
    assert parent.info.status == "FINISHED"
    runs = trial_runs(client, experiment_id, parent.info.run_id)
    assert len(client.search_runs([experiment_id])) == 1 + 4
    assert sorted(runs) == [0, 1, 2, 3]
    # trial 0 keeps what the first search logged (the resumed search passed no history)
    assert len(client.get_metric_history(runs[0].info.run_id, "loss")) == 3


def test_tracking_uri_environment_variable_beats_the_project_store(tmp_path, project, monkeypatch):
    uri = sqlite_uri(tmp_path / "from_env.db")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    study = make_study()
    track(MLflowTracker(experiment="env"), study, project, [finish(study)])

    assert not (project / "mlflow.db").exists()
    client = MlflowClient(uri)
    assert len(client.search_runs([client.get_experiment_by_name("env").experiment_id])) == 2


def test_explicit_tracking_uri_beats_the_environment_variable(tmp_path, project, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", sqlite_uri(tmp_path / "from_env.db"))
    uri = sqlite_uri(tmp_path / "explicit.db")
    study = make_study()
    track(MLflowTracker(uri, "explicit"), study, project, [finish(study)])

    assert not (tmp_path / "from_env.db").exists()
    client = MlflowClient(uri)
    assert len(client.search_runs([client.get_experiment_by_name("explicit").experiment_id])) == 2


MODEL_CODE = textwrap.dedent(
    """
    import mlflow.models
    from mlflow.pyfunc import PythonModel


    class Echo(PythonModel):
        def predict(self, context, model_input, params=None):
            return model_input


    mlflow.models.set_model(Echo())
    """
)


def test_search_end_logs_results_plots_and_registers_the_best_model(tmp_path, project):
    code = tmp_path / "echo_model.py"
    code.write_text(MODEL_CODE)
    model_dir = tmp_path / "best"
    mlflow.pyfunc.save_model(model_dir, python_model=str(code), pip_requirements=["mlflow"])
    study = make_study()
    trials = [finish(study) for _ in range(3)] + [finish(study, TrialState.FAIL)]
    uri = sqlite_uri(tmp_path / "registry.db")
    results = track(MLflowTracker(uri, register_as="m"), study, project, trials, model_dir)

    client = MlflowClient(uri)
    run_id = only_parent(client, client.get_experiment_by_name("demo").experiment_id).info.run_id
    csv = client.download_artifacts(run_id, "results.csv", str(tmp_path))
    assert pandas.read_csv(csv)["number"].tolist() == results["number"].tolist() == [0, 1, 2, 3]
    assert {a.path for a in client.list_artifacts(run_id, "plots")} == {
        "plots/optimization_history.png",
        "plots/param_importances.png",
        "plots/parallel_coordinate.png",
    }
    assert "best_model/MLmodel" in {a.path for a in client.list_artifacts(run_id, "best_model")}
    (model_version,) = client.search_model_versions("name = 'm'")
    assert model_version.run_id == run_id
    assert model_version.source.endswith("/best_model")


def test_final_metrics_are_the_last_epoch_and_best_metrics_the_best_one():
    from hyperflax.tracking._records import trial_metrics

    trial = optuna.trial.create_trial(
        value=0.2, user_attrs={"hx:metrics": {"loss": 0.3, "val_loss": 0.2}}
    )
    history = {"epoch": [0, 1, 2], "loss": [0.5, 0.3, 0.1], "val_loss": [0.4, 0.2, 0.6]}
    metrics = {name: value for name, value, _ in trial_metrics(trial, history, "val_loss")}
    assert metrics["final/val_loss"] == 0.6 and metrics["best/val_loss"] == 0.2
    assert metrics["final/loss"] == 0.1 and metrics["objective/val_loss"] == 0.2
