"""``TabularClassifier`` and ``TabularRegressor``: scikit-learn estimators that search, ensemble."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.validation import _check_feature_names, _check_n_features, check_is_fitted

from hyperflax import _study_keys as keys
from hyperflax._errors import DataError
from hyperflax.automl import _refit, _search
from hyperflax.automl._ensemble import greedy_ensemble
from hyperflax.automl._metrics import resolve_metric
from hyperflax.automl._space import FAMILIES, PRESETS
from hyperflax.automl._tables import as_frame, check_target, infer_columns, normalize
from hyperflax.automl._task import Deadline, Task

_ENSEMBLE_CANDIDATES = 40


class _Tabular(BaseEstimator):
    """The shared search-and-ensemble machinery of both estimators (see their docstrings)."""

    _classification = True

    def _check_params(self) -> None:
        t = self.time_limit
        if isinstance(t, bool) or not isinstance(t, int | float) or not t > 0:
            raise ValueError(f"`time_limit` must be a number of seconds > 0, got {t!r}")
        if self.presets not in PRESETS:
            raise ValueError(f"`presets` must be one of {sorted(PRESETS)}, got {self.presets!r}")
        m = self.max_trials
        if m is not None and (isinstance(m, bool) or not isinstance(m, int) or m < 1):
            raise ValueError(f"`max_trials` must be an int >= 1 or None, got {m!r}")
        if self.families is not None:
            bad = [f for f in self.families if f not in FAMILIES] if self.families else ["none"]
            if bad or isinstance(self.families, str):
                raise ValueError(
                    f"`families` must be a non-empty list of {list(FAMILIES)}, got "
                    f"{self.families!r}; e.g. families=['hgb', 'linear']"
                )
        k = self.population_size
        if k != "auto" and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
            raise ValueError(f"`population_size` must be an int >= 1 or 'auto', got {k!r}")
        s = self.seed
        if isinstance(s, bool) or not isinstance(s, int) or s < 0:
            raise ValueError(f"`seed` must be an int >= 0, got {s!r}")
        if self.tracker not in (None, "mlflow") and not hasattr(self.tracker, "on_trial_end"):
            raise ValueError(
                f"`tracker` must be None, 'mlflow' or a hx.tracking.Tracker, got {self.tracker!r}"
            )

    def _encode_target(self, y: np.ndarray) -> tuple[np.ndarray, Task]:
        return y, Task("regression")

    def fit(self, X: Any, y: Any) -> Any:
        """Searches candidate models within ``time_limit`` and ensembles the best of them.

        Args:
            X: A DataFrame (numeric, category, object, string and bool columns, missing values)
                or an array of shape ``(n_samples, n_features)``.
            y: Targets: class labels (str, int, bool) or numbers for regression.

        Returns:
            self.

        Raises:
            DataError: for invalid data, before any training.
            StudyMismatchError: when ``directory`` holds a study made for other data.
            TimeLimitError: when not even one model could be trained within ``time_limit``.
        """
        self._check_params()
        deadline = Deadline(float(self.time_limit))
        frame = as_frame(X)
        _check_feature_names(
            self, X if isinstance(X, pd.DataFrame) else frame.to_numpy(), reset=True
        )
        self.n_features_in_ = frame.shape[1]
        if len(frame) < 2:
            raise DataError(
                f"`X` must have at least 2 rows to train and validate, got n_samples={len(frame)}"
            )
        y_checked = check_target(y, len(frame), classification=self._classification)
        targets, task = self._encode_target(y_checked)
        columns = infer_columns(frame)
        table = normalize(frame, columns)
        self.metric_ = resolve_metric(self.metric, task.classification).name
        families = tuple(self.families or PRESETS[self.presets].families)
        train, val = self._split(targets, task)
        base_reserve = min(0.1 * self.time_limit, 1.0 + 0.03 * self.time_limit)
        refit = bool(self.refit) and len(frame) <= _refit.REFIT_MAX_ROWS
        with tempfile.TemporaryDirectory(prefix="hx_automl_") as scratch:
            directory = Path(scratch if self.directory is None else self.directory)
            ctx = _search.Context(
                table.iloc[train].reset_index(drop=True), table.iloc[val].reset_index(drop=True),
                targets[train], targets[val], columns, task,
                resolve_metric(self.metric, task.classification), families,
                PRESETS[self.presets], self.seed, deadline,
                reserve=base_reserve + (_refit.REFIT_SHARE * self.time_limit if refit else 0.0),
                project=directory / self.project_name, bounded_trials=self.max_trials is not None,
                verbose=self.verbose, persist=self.directory is not None,
            )  # fmt: skip
            settings = {"task": task.kind, "metric": self.metric_, "families": families,
                        "presets": self.presets, "seed": self.seed}  # fmt: skip
            trials, runs = _search.run_search(
                ctx, max_trials=self.max_trials, directory=directory,
                project_name=self.project_name,
                storage=optuna.storages.InMemoryStorage() if self.directory is None else None,
                tracker=self.tracker, settings=settings, population_size=self.population_size,
            )  # fmt: skip
            self._ensemble(ctx, trials, runs)
            if refit:
                self._refit_members(ctx, trials, deadline=deadline.at - 0.5 * base_reserve)
        self.problem_type_ = task.kind
        self.columns_ = columns
        self.task_ = task
        return self

    def _split(self, targets: np.ndarray, task: Task) -> tuple[np.ndarray, np.ndarray]:
        n = len(targets)
        n_val = max(1, round(0.2 * n))
        stratify = None
        if task.classification:
            counts = np.bincount(targets)
            if counts.min() >= 2 and n_val >= task.n_classes and n - n_val >= task.n_classes:
                stratify = targets
        rows = np.arange(n)
        train, val = train_test_split(
            rows, test_size=n_val, stratify=stratify, random_state=self.seed
        )
        return np.sort(train), np.sort(val)

    def _ensemble(
        self, ctx: _search.Context, trials: list[Any], runs: dict[int, str | None]
    ) -> None:
        metric = ctx.metric
        ranked = sorted(trials, key=lambda t: (metric.sign * t.value, t.number))
        pool = [(t, p) for t in ranked if (p := _search.held_out(ctx, t.number)) is not None]
        pool = pool[:_ENSEMBLE_CANDIDATES]
        if not pool:
            raise DataError("no candidate left held-out predictions; the project is incomplete")
        weights = greedy_ensemble(
            [p for _, p in pool], ctx.y_val, metric, deadline=ctx.deadline.at - 0.5 * ctx.reserve
        )
        weight_of = {t.number: float(w) for (t, _), w in zip(pool, weights, strict=True)}
        ensemble = sum(w * p for (_, p), w in zip(pool, weights, strict=True))
        self.validation_score_ = metric(ctx.y_val, ensemble)
        self.members_ = [(_search.member_of(ctx, n), w) for n, w in weight_of.items() if w > 0]
        for member, _ in self.members_:
            ctx.split(member.preprocessor)  # members from a resumed study need their preprocessor
        self.preprocessors_ = {
            kind: ctx.preprocessors[kind] for kind in {m.preprocessor for m, _ in self.members_}
        }
        rows = []
        for t in ranked:
            extra = t.user_attrs.get(keys.METRICS, {})
            rows.append({
                "model": f"trial_{t.number}_{t.params['family']}", "family": t.params["family"],
                "hyperparameters": {k: v for k, v in t.params.items() if k != "family"},
                "validation_score": t.value, "fit_time": extra.get("fit_time"),
                "predict_time": extra.get("predict_time"),
                "ensemble_weight": weight_of.get(t.number, 0.0),
                "mlflow_run_id": runs.get(t.number), "refit_full": False,
            })  # fmt: skip
        self.leaderboard_ = pd.DataFrame(rows)

    def _refit_members(self, ctx: _search.Context, trials: list[Any], *, deadline: float) -> None:
        fit_times = {t.number: t.user_attrs.get(keys.METRICS, {}).get("fit_time") for t in trials}
        done = _refit.refit_members(
            self.members_, ctx.splits,
            {n: float(v) for n, v in fit_times.items() if v is not None}, ctx.task,
            deadline=deadline,
        )  # fmt: skip
        self.members_ = [(member, weight) for member, weight, _ in done]
        refit = {member.trial for member, _, again in done if again}
        self.leaderboard_["refit_full"] = [
            int(model.split("_")[1]) in refit for model in self.leaderboard_["model"]
        ]

    def leaderboard(self) -> pd.DataFrame:
        """Every candidate, best first, as a DataFrame.

        Columns: model, family, hyperparameters, validation score, fit and predict time
        (seconds), ensemble weight, MLflow run id (None without tracking), and ``refit_full``:
        whether the member was trained again on every row after the ensemble was chosen (its
        validation score is that of its first model, trained on 80% of the rows).

        Example:
            >>> clf.leaderboard()[["family", "validation_score"]]  # doctest: +SKIP
        """
        check_is_fitted(self, "leaderboard_")
        return self.leaderboard_.copy()

    def _predict_raw(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "members_")
        frame = as_frame(X)
        _check_feature_names(
            self, X if isinstance(X, pd.DataFrame) else frame.to_numpy(), reset=False
        )
        _check_n_features(self, frame, reset=False)
        if not (isinstance(X, pd.DataFrame) and hasattr(self, "feature_names_in_")):
            frame.columns = list(self.columns_.names)  # matched by position
        table = normalize(frame, self.columns_)
        inputs = {k: pre.transform(table) for k, pre in self.preprocessors_.items()}
        outputs = [
            w * m.predict(np.asarray(inputs[m.preprocessor], np.float64), self.task_)
            for m, w in self.members_
        ]
        return np.sum(outputs, axis=0)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Writes the fitted estimator to directory ``path`` without pickle (see ``load``).

        Example:
            >>> clf.save("model_dir")  # doctest: +SKIP
        """
        from hyperflax.automl._persistence import save

        save(self, Path(path))

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        tags.input_tags.categorical = True
        return tags


_PARAMS_DOC = """
    Args:
        time_limit: Seconds the whole ``fit`` may take (a promise: preprocessing, every
            candidate and the ensemble included).
        presets: ``"medium"`` (all families) or ``"fast"`` (HistGradientBoosting, linear, MLP;
            shorter network training).
        metric: What the search and the ensemble optimize; ``None`` for the default.
        max_trials: At most this many candidates; with a ``seed`` the result is deterministic
            (when ``time_limit`` does not cut it short).
        families: Model families to include, a subset of ``"hgb"``, ``"realmlp"``, ``"tabm"``,
            ``"linear"``, ``"mlp"``; ``None`` for the preset's.
        seed: Seeds the split, the sampler and every model.
        directory: Parent folder of the project; ``None`` keeps a private temporary project per
            ``fit``. With a directory, rerunning a killed ``fit`` continues its study.
        project_name: The project's folder and study name inside ``directory``.
        tracker: ``None``, ``"mlflow"`` (each candidate a nested MLflow run) or a
            ``hx.tracking.Tracker``.
        verbose: Print one line per candidate when > 0.
        refit: With at most 10,000 rows, keep 15% of ``time_limit`` to train the ensemble's
            members again on every row (training and held-out) once the ensemble is chosen.
        population_size: Network candidates of one family train this many at a time in one
            ``vmap``-ed program (each still its own trial); ``"auto"`` is 1 on a CPU, where it
            does not pay, and 16 on an accelerator.
"""


class TabularClassifier(ClassifierMixin, _Tabular):
    (
        """AutoML classifier for tables: a time-boxed search over model families, then an ensemble.
    """
        + _PARAMS_DOC
        + """        problem_type: ``None`` (detected from ``y``), ``"binary"`` or ``"multiclass"``.

    Metrics: ``"log_loss"`` (default), ``"accuracy"``, ``"balanced_accuracy"``, ``"roc_auc"``,
    ``"f1"``.

    Example:
        >>> from sklearn.datasets import load_breast_cancer
        >>> import hyperflax as hx
        >>> X, y = load_breast_cancer(return_X_y=True, as_frame=True)
        >>> clf = hx.automl.TabularClassifier(time_limit=30, families=["linear"], max_trials=1)
        >>> clf.fit(X, y).score(X, y) > 0.9
        True
    """
    )

    def __init__(
        self,
        *,
        time_limit: float = 300,
        presets: str = "medium",
        metric: str | None = None,
        max_trials: int | None = None,
        families: list[str] | None = None,
        seed: int = 0,
        directory: str | os.PathLike[str] | None = None,
        project_name: str = "automl",
        tracker: Any = None,
        verbose: int = 0,
        refit: bool = True,
        population_size: int | str = 1,
        problem_type: str | None = None,
    ) -> None:
        self.time_limit = time_limit
        self.presets = presets
        self.metric = metric
        self.max_trials = max_trials
        self.families = families
        self.seed = seed
        self.directory = directory
        self.project_name = project_name
        self.tracker = tracker
        self.verbose = verbose
        self.refit = refit
        self.population_size = population_size
        self.problem_type = problem_type

    def _encode_target(self, y: np.ndarray) -> tuple[np.ndarray, Task]:
        encoder = LabelEncoder().fit(y)
        self.classes_ = encoder.classes_
        n = len(self.classes_)
        kind = self.problem_type or ("binary" if n == 2 else "multiclass")
        if kind not in ("binary", "multiclass") or (kind == "binary") != (n == 2):
            raise ValueError(
                f"`problem_type` must be None, 'binary' (2 classes) or 'multiclass', got "
                f"{self.problem_type!r} for a target with {n} classes"
            )
        return encoder.transform(y), Task(kind, n)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, columns in the order of ``classes_``."""
        proba = self._predict_raw(X)
        return proba / proba.sum(axis=1, keepdims=True)

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each row."""
        check_is_fitted(self, "members_")
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


class TabularRegressor(RegressorMixin, _Tabular):
    (
        """AutoML regressor for tables: a time-boxed search over model families, then an ensemble.
    """
        + _PARAMS_DOC
        + """
    Metrics: ``"rmse"`` (default), ``"mae"``, ``"r2"``.

    Example:
        >>> from sklearn.datasets import load_diabetes
        >>> import hyperflax as hx
        >>> X, y = load_diabetes(return_X_y=True)
        >>> reg = hx.automl.TabularRegressor(time_limit=30, families=["linear"], max_trials=1)
        >>> reg.fit(X, y).score(X, y) > 0.4
        True
    """
    )

    _classification = False

    def __init__(
        self,
        *,
        time_limit: float = 300,
        presets: str = "medium",
        metric: str | None = None,
        max_trials: int | None = None,
        families: list[str] | None = None,
        seed: int = 0,
        directory: str | os.PathLike[str] | None = None,
        project_name: str = "automl",
        tracker: Any = None,
        verbose: int = 0,
        refit: bool = True,
        population_size: int | str = 1,
    ) -> None:
        self.time_limit = time_limit
        self.presets = presets
        self.metric = metric
        self.max_trials = max_trials
        self.families = families
        self.seed = seed
        self.directory = directory
        self.project_name = project_name
        self.tracker = tracker
        self.verbose = verbose
        self.refit = refit
        self.population_size = population_size

    def predict(self, X: Any) -> np.ndarray:
        """Predicted values."""
        return np.asarray(self._predict_raw(X), np.float64)
