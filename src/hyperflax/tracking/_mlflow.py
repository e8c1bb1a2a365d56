"""MLflowTracker: a study is a parent run, each trial a nested run."""

from __future__ import annotations

import functools
import json
import os
import pathlib
import tempfile
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hyperflax.tracking import _records
from hyperflax.tracking._guard import Guard
from hyperflax.tracking._plots import save_plots
from hyperflax.tracking._tracker import Tracker

if TYPE_CHECKING:
    import optuna
    import pandas
    from mlflow import MlflowClient
    from mlflow.entities import Run

#: MLflow's limits on one ``log_batch`` call: 100 params, 1000 entries in all.
_MAX_BATCH_METRICS = 900
_MAX_BATCH_PARAMS = 100
#: Tags that find a search's parent run and a trial's run.
STUDY_TAG = "hyperflax.study"
TRIAL_TAG = "hyperflax.trial_number"
PARENT_TAG = "mlflow.parentRunId"


class MLflowTracker(Tracker):
    """Records a search in MLflow: one parent run per study, one nested run per trial.

    The store is, first match wins: ``tracking_uri``; the ``MLFLOW_TRACKING_URI`` environment
    variable; an embedded store in the project directory (``sqlite:///<project>/mlflow.db``,
    artifacts in ``<project>/mlartifacts``), no server needed. The experiment is ``experiment``
    or the study's name. A resumed search reuses its parent run (found by the tag
    ``hyperflax.study``) and logs only the trials not logged yet (tag ``hyperflax.trial_number``);
    ``config["overwrite"] = True`` starts a new parent run instead.

    A trial's run (``trial-<number>``) has every hyperparameter as a param; its per-epoch
    history (or, for a plain function, its intermediate values under the objective's name) as
    metrics with their step; its final metrics as ``final/<name>``; its objective value as
    ``objective/<objective>``; the tags ``hyperflax.state`` (complete, pruned, failed),
    ``hyperflax.error``, ``hyperflax.devices``, ``hyperflax.version`` and ``jax.version``; and
    the trial's start and end times. At the end of the search, the parent run gets
    ``results.csv``, Optuna's plots under ``plots/``, the best model under ``best_model``
    (registered as ``register_as`` when given).

    Tracking never fails a search: the first MLflow error (a server that is down or dies, an
    HTTP error) is logged once as a warning on the ``hyperflax`` logger and tracking is off until
    the next search. While it talks to MLflow the tracker bounds MLflow's HTTP retries and
    timeout (see ``hyperflax.tracking._guard.HTTP_LIMITS``) unless the user set them.

    Args:
        tracking_uri: an MLflow tracking URI (``http://host:5000``, ``sqlite:///f.db``, ...).
        experiment: the experiment's name; default the study's name.
        register_as: register the best model in the Model Registry under this name.

    Example:
        >>> tracker = MLflowTracker("http://127.0.0.1:5000", register_as="digits")
        >>> # hx.tuners.RandomSearch(build_model, objective="val_accuracy", tracker=tracker)
    """

    def __init__(
        self,
        tracking_uri: str | None = None,
        experiment: str | None = None,
        *,
        register_as: str | None = None,
    ) -> None:
        self.tracking_uri = tracking_uri
        self.experiment = experiment
        self.register_as = register_as
        self._guard = Guard()
        self._client: MlflowClient | None = None
        self._experiment_id = ""
        self._parent_id = ""
        self._objective = "value"
        self._trial_runs: dict[int, str] = {}

    def on_search_begin(
        self, study: optuna.Study, *, project_dir: pathlib.Path, config: dict[str, Any]
    ) -> None:
        """Find or create the experiment and the parent run; note the trials already logged."""
        self._guard.reset()
        self._client = None
        self._guard.run(functools.partial(self._begin, study, pathlib.Path(project_dir), config))

    def on_trial_end(
        self,
        study: optuna.Study,
        trial: optuna.trial.FrozenTrial,
        history: dict[str, list[float]] | None,
    ) -> None:
        """Log a finished trial as a nested run, unless a run for it exists already."""
        self._guard.run(functools.partial(self._log_trial, trial, history))

    def on_search_end(
        self,
        study: optuna.Study,
        *,
        results: pandas.DataFrame,
        best_model_dir: pathlib.Path | None,
    ) -> None:
        """Log the results table, the plots and the best model; finish the parent run."""
        self._guard.run(functools.partial(self._end, study, results, best_model_dir))

    def _begin(
        self, study: optuna.Study, project_dir: pathlib.Path, config: dict[str, Any]
    ) -> None:
        from mlflow import MlflowClient

        uri = self.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
        artifact_location = None
        if not uri:
            project_dir.mkdir(parents=True, exist_ok=True)
            uri = f"sqlite:///{(project_dir / 'mlflow.db').resolve()}"
            artifact_location = (project_dir / "mlartifacts").resolve().as_uri()
        client = MlflowClient(uri)
        experiment_id = _experiment_id(
            client, self.experiment or study.study_name, artifact_location
        )
        study_filter = f"tags.`{STUDY_TAG}` = {_quoted(study.study_name)}"
        found = [] if config.get("overwrite") else _search(client, experiment_id, study_filter, 1)
        if found:
            parent = found[0]
            client.update_run(parent.info.run_id, status="RUNNING")
        else:
            parent = client.create_run(
                experiment_id,
                run_name=study.study_name,
                tags={STUDY_TAG: study.study_name, **_records.version_tags()},
            )
        params = {
            key: value
            for key, value in _records.as_params(config).items()
            if key not in parent.data.params  # a resumed search keeps its first settings
        }
        _log_batch(client, parent.info.run_id, params=params)
        client.set_tag(parent.info.run_id, "hyperflax.config", _records.as_text(config))
        trial_filter = f"tags.`{PARENT_TAG}` = {_quoted(parent.info.run_id)}"
        self._trial_runs = {
            int(run.data.tags[TRIAL_TAG]): run.info.run_id
            for run in _search(client, experiment_id, trial_filter)
            if TRIAL_TAG in run.data.tags
        }
        self._objective = str(
            study.user_attrs.get("hx:objective") or config.get("objective") or "value"
        )
        self._client, self._experiment_id, self._parent_id = (
            client,
            experiment_id,
            parent.info.run_id,
        )

    def _log_trial(
        self, trial: optuna.trial.FrozenTrial, history: dict[str, list[float]] | None
    ) -> None:
        client = self._client
        if client is None or trial.number in self._trial_runs:
            return
        run = client.create_run(
            self._experiment_id,
            start_time=_records.millis(trial.datetime_start),
            run_name=f"trial-{trial.number}",
            tags={PARENT_TAG: self._parent_id, **_records.trial_tags(trial)},
        )
        end = _records.millis(trial.datetime_complete)
        _log_batch(
            client,
            run.info.run_id,
            params=_records.as_params(trial.params),
            metrics=_records.trial_metrics(trial, history, self._objective),
            timestamp=end,
        )
        client.set_terminated(run.info.run_id, _records.trial_status(trial), end_time=end)
        self._trial_runs[trial.number] = run.info.run_id

    def _end(
        self, study: optuna.Study, results: pandas.DataFrame, best_model_dir: pathlib.Path | None
    ) -> None:
        client = self._client
        if client is None:
            return
        run_id = self._parent_id
        with tempfile.TemporaryDirectory(prefix="hyperflax-tracking-") as scratch:
            csv = pathlib.Path(scratch) / "results.csv"
            results.to_csv(csv, index=False)
            client.log_artifact(run_id, str(csv))
            plots = pathlib.Path(scratch) / "plots"
            plots.mkdir()
            if save_plots(study, plots):
                client.log_artifacts(run_id, str(plots), "plots")
        if best_model_dir is not None:
            client.log_artifacts(run_id, str(best_model_dir), "best_model")
            if self.register_as:
                _register(client, self.register_as, run_id)
        client.set_terminated(run_id, "FINISHED")


def _experiment_id(client: MlflowClient, name: str, artifact_location: str | None) -> str:
    """The id of the experiment ``name``, created (or restored from deletion) when needed."""
    from mlflow.exceptions import MlflowException

    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        try:
            return client.create_experiment(name, artifact_location=artifact_location)
        except MlflowException:  # another worker created it meanwhile
            experiment = client.get_experiment_by_name(name)
            if experiment is None:
                raise
    if experiment.lifecycle_stage == "deleted":
        client.restore_experiment(experiment.experiment_id)
    return str(experiment.experiment_id)


def _search(
    client: MlflowClient, experiment_id: str, filter_string: str, limit: int | None = None
) -> list[Run]:
    """Runs matching ``filter_string``, newest first, all pages (or the first ``limit``)."""
    runs: list[Run] = []
    token = None
    while limit is None or len(runs) < limit:
        page = client.search_runs(
            [experiment_id],
            filter_string,
            max_results=limit or 1000,
            order_by=["attributes.start_time DESC"],
            page_token=token,
        )
        runs += page
        token = page.token
        if not token:
            break
    return runs


def _log_batch(
    client: MlflowClient,
    run_id: str,
    *,
    params: dict[str, str],
    metrics: Sequence[_records.MetricRecord] = (),
    timestamp: int = 0,
) -> None:
    """Log params and metrics in as few ``log_batch`` calls as MLflow's limits allow."""
    from mlflow.entities import Metric, Param

    param_list = [Param(key, value) for key, value in params.items()]
    metric_list = [Metric(key, value, timestamp, step) for key, value, step in metrics]
    while param_list or metric_list:
        client.log_batch(
            run_id, metrics=metric_list[:_MAX_BATCH_METRICS], params=param_list[:_MAX_BATCH_PARAMS]
        )
        param_list = param_list[_MAX_BATCH_PARAMS:]
        metric_list = metric_list[_MAX_BATCH_METRICS:]


def _register(client: MlflowClient, name: str, run_id: str) -> None:
    """Register the run's ``best_model`` artifact as a new version of the model ``name``."""
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import RESOURCE_ALREADY_EXISTS, ErrorCode

    try:
        client.create_registered_model(name)
    except MlflowException as exc:
        if exc.error_code != ErrorCode.Name(RESOURCE_ALREADY_EXISTS):
            raise
    source = f"{client.get_run(run_id).info.artifact_uri}/best_model"
    client.create_model_version(name, source, run_id=run_id)


def _quoted(value: str) -> str:
    """``value`` as a string literal of an MLflow search filter."""
    return json.dumps(value) if "'" in value else f"'{value}'"
