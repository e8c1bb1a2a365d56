"""MLflowTracker: a study is a parent run, each trial a nested run."""

from __future__ import annotations

import functools
import json
import math
import os
import pathlib
import tempfile
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hyperflax import _study_keys as keys
from hyperflax.tracking import _records
from hyperflax.tracking._guard import Guard
from hyperflax.tracking._plots import save_plots
from hyperflax.tracking._tracker import Tracker

if TYPE_CHECKING:
    import optuna
    import pandas
    from mlflow import MlflowClient
    from mlflow.entities import Run

#: MLflow's limits on one ``log_batch`` call: 100 params, 100 tags, 1000 entries in all.
_MAX_BATCH_METRICS = 900
_MAX_BATCH_PARAMS = 100  # and tags
_MAX_BATCH_ENTRIES = 1000
#: Run statuses of a trial whose run may still receive metrics.
_OPEN_STATUSES = frozenset({"RUNNING", "SCHEDULED"})
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

    Tracking is live: a trial's run is created (status RUNNING) when the trial begins and its
    epochs' metrics are logged as they come (:meth:`on_trial_metrics`), at most one write per
    ``live_every_s`` seconds (the points in between go with the next write), so the MLflow UI
    shows a long trial while it trains and a short one costs a few writes; its params, final
    metrics, tags and terminal status follow when it ends, without logging again the points
    already logged live. A trial that began in an
    earlier, interrupted search reuses its run; one whose run is finished is not logged again.
    Driven without :meth:`on_trial_begin`, the tracker creates each run when its trial ends.

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
        live_every_s: the least time between two live writes of one trial's metrics; 0 writes
            every epoch as it ends. A process killed mid-trial loses the live points of at
            most the last ``live_every_s`` seconds of that trial (whose retry logs its own).

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
        live_every_s: float = 1.0,
    ) -> None:
        self.tracking_uri = tracking_uri
        self.experiment = experiment
        self.register_as = register_as
        self.live_every_s = live_every_s
        self._guard = Guard()
        self._client: MlflowClient | None = None
        self._experiment_id = ""
        self._parent_id = ""
        self._objective = "value"
        #: trial number -> its run; the numbers whose run is terminal (never logged again).
        self._trial_runs: dict[int, str] = {}
        self._finished: set[int] = set()
        #: trial number -> the (metric, step) points its run holds already (logged live).
        self._points: dict[int, set[tuple[str, int]]] = {}
        #: trial number -> points reported but not written yet, and the time of its last write.
        self._pending: dict[int, list[_records.MetricRecord]] = {}
        self._written_at: dict[int, float] = {}
        #: trial number -> metric keys of an unfinished run found at the start of the search,
        #: whose points are read back the first time the trial is seen again.
        self._unread: dict[int, list[str]] = {}

    def run_id(self, number: int) -> str | None:
        """The MLflow run id of trial ``number`` of the current search, or ``None``.

        Example:
            >>> MLflowTracker("sqlite:///mlflow.db").run_id(0) is None
            True
        """
        return self._trial_runs.get(number)

    def on_search_begin(
        self, study: optuna.Study, *, project_dir: pathlib.Path, config: dict[str, Any]
    ) -> None:
        """Find or create the experiment and the parent run; note the trials already logged."""
        self._guard.reset()
        self._client = None
        self._guard.run(functools.partial(self._begin, study, pathlib.Path(project_dir), config))

    def on_trial_begin(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        """Create the trial's nested run (status RUNNING), or reuse the one it already has.

        The run is named ``trial-<number>`` and has the trial's tags and start time; its params
        are logged when the trial ends (define-by-run params are not sampled yet). A trial whose
        run exists (a resumed search) keeps that run; a finished run is left as it is.

        Args:
            study: the search's Optuna study.
            trial: the starting trial (state RUNNING).

        Example:
            >>> import optuna
            >>> study = optuna.create_study(study_name="demo")
            >>> tracker = MLflowTracker("sqlite:///mlflow.db")
            >>> tracker.on_search_begin(study, project_dir=pathlib.Path("."), config={})
            >>> trial = study.ask()
            >>> tracker.on_trial_begin(study, study.trials[trial.number])  # RUNNING "trial-0"
        """
        self._guard.run(functools.partial(self._open_trial, trial))

    def on_trial_metrics(
        self, study: optuna.Study, number: int, metrics: dict[str, float], step: int
    ) -> None:
        """Log one step's metrics of a running trial to its run now (one ``log_batch``).

        Nothing is logged for a trial without a run (one :meth:`on_trial_begin` did not open)
        or whose run is finished. The points logged here are not logged again by
        :meth:`on_trial_end`.

        Args:
            study: the search's Optuna study.
            number: the trial's number.
            metrics: the step's metrics by name (``{"loss": 0.3, "val_loss": 0.4}``).
            step: the epoch (or report step) they belong to.

        Example:
            >>> import optuna
            >>> study = optuna.create_study(study_name="demo")
            >>> tracker = MLflowTracker("sqlite:///mlflow.db")
            >>> tracker.on_search_begin(study, project_dir=pathlib.Path("."), config={})
            >>> trial = study.ask()
            >>> tracker.on_trial_begin(study, study.trials[trial.number])
            >>> tracker.on_trial_metrics(study, trial.number, {"loss": 0.3, "val_loss": 0.4}, 0)
            >>> tracker.on_trial_metrics(study, trial.number, {"loss": 0.2, "val_loss": 0.3}, 1)
        """
        self._guard.run(functools.partial(self._log_live, number, dict(metrics), step))

    def on_trial_end(
        self,
        study: optuna.Study,
        trial: optuna.trial.FrozenTrial,
        history: dict[str, list[float]] | None,
    ) -> None:
        """Complete a finished trial's nested run (created now when it has none).

        Logs the params, the per-epoch ``history`` (or intermediate values) except the points
        already logged live, the final and objective metrics, the state tags, the end time and
        the terminal status. A trial whose run is finished already is skipped.
        """
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
        self._trial_runs, self._finished, self._points, self._unread = {}, set(), {}, {}
        self._pending, self._written_at = {}, {}
        for run in _search(client, experiment_id, trial_filter):
            if TRIAL_TAG not in run.data.tags:
                continue
            number = int(run.data.tags[TRIAL_TAG])
            if number in self._trial_runs:  # newest first: the newest run of a trial wins
                continue
            self._trial_runs[number] = run.info.run_id
            if run.info.status in _OPEN_STATUSES:
                self._unread[number] = list(run.data.metrics)
            else:
                self._finished.add(number)
        self._objective = str(
            study.user_attrs.get(keys.OBJECTIVE) or config.get("objective") or "value"
        )
        self._client, self._experiment_id, self._parent_id = (
            client,
            experiment_id,
            parent.info.run_id,
        )

    def _trial_run(self, client: MlflowClient, trial: optuna.trial.FrozenTrial) -> str:
        """The id of the trial's open run: the one it has (its points read back), else a new one."""
        number = trial.number
        run_id = self._trial_runs.get(number)
        if run_id is None:
            run_id = client.create_run(
                self._experiment_id,
                start_time=_records.millis(trial.datetime_start),
                run_name=f"trial-{number}",
                tags={PARENT_TAG: self._parent_id, **_records.trial_tags(trial)},
            ).info.run_id
            self._trial_runs[number] = run_id
        elif number in self._unread:  # begun by an earlier search that stopped mid-trial
            self._points.setdefault(number, set()).update(
                (key, metric.step)
                for key in self._unread.pop(number)
                for metric in client.get_metric_history(run_id, key)
            )
        return run_id

    def _open_trial(self, trial: optuna.trial.FrozenTrial) -> None:
        client = self._client
        if client is None or trial.number in self._finished:
            return
        self._trial_run(client, trial)

    def _log_live(self, number: int, metrics: dict[str, float], step: int) -> None:
        client = self._client
        run_id = self._trial_runs.get(number)
        if client is None or run_id is None or number in self._finished or not metrics:
            return
        pending = self._pending.setdefault(number, [])
        pending.extend((str(key), float(value), int(step)) for key, value in metrics.items())
        now = time.monotonic()
        if now - self._written_at.get(number, -math.inf) < self.live_every_s:
            return
        _log_batch(client, run_id, params={}, metrics=pending, timestamp=_records.millis(None))
        self._points.setdefault(number, set()).update((key, step) for key, _, step in pending)
        self._pending[number], self._written_at[number] = [], now

    def _log_trial(
        self, trial: optuna.trial.FrozenTrial, history: dict[str, list[float]] | None
    ) -> None:
        client = self._client
        if client is None or trial.number in self._finished:
            return
        run_id = self._trial_run(client, trial)
        pending = self._pending.pop(trial.number, [])  # written with the rest, once
        self._written_at.pop(trial.number, None)
        logged = self._points.pop(trial.number, set()) | {(k, step) for k, _, step in pending}
        end = _records.millis(trial.datetime_complete)
        _log_batch(
            client,
            run_id,
            params=_records.as_params(trial.params),
            metrics=pending
            + [
                record
                for record in _records.trial_metrics(trial, history, self._objective)
                if (record[0], record[2]) not in logged
            ],
            tags=_records.trial_tags(trial),
            timestamp=end,
        )
        client.set_terminated(run_id, _records.trial_status(trial), end_time=end)
        self._finished.add(trial.number)

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
        best = _best_trial(study)
        if best is not None:
            objective = study.user_attrs.get(keys.OBJECTIVE) or "value"
            client.log_metric(run_id, f"best/{objective}", float(best.value or 0.0))
            client.set_tag(run_id, "hyperflax.best_trial", str(best.number))
        if best_model_dir is not None:
            client.log_artifacts(run_id, str(best_model_dir), "best_model")
            if self.register_as:
                _register(client, self.register_as, run_id)
        client.set_terminated(run_id, "FINISHED")


def _best_trial(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    """The study's best complete trial, or None when there is none."""
    try:
        return study.best_trial
    except ValueError:
        return None


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
    tags: dict[str, str] | None = None,
    timestamp: int = 0,
) -> None:
    """Log params, metrics and tags in as few ``log_batch`` calls as MLflow's limits allow."""
    from mlflow.entities import Metric, Param, RunTag

    param_list = [Param(key, value) for key, value in params.items()]
    metric_list = [Metric(key, value, timestamp, step) for key, value, step in metrics]
    tag_list = [RunTag(key, value) for key, value in (tags or {}).items()]
    while param_list or metric_list or tag_list:
        param_batch, tag_batch = param_list[:_MAX_BATCH_PARAMS], tag_list[:_MAX_BATCH_PARAMS]
        room = _MAX_BATCH_ENTRIES - len(param_batch) - len(tag_batch)
        metric_batch = metric_list[: min(room, _MAX_BATCH_METRICS)]
        client.log_batch(run_id, metrics=metric_batch, params=param_batch, tags=tag_batch)
        param_list = param_list[len(param_batch) :]
        tag_list = tag_list[len(tag_batch) :]
        metric_list = metric_list[len(metric_batch) :]


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
