"""``TabularClassifier`` and ``TabularRegressor``: scikit-learn estimators that search, ensemble."""

from __future__ import annotations

import logging
import numbers
import os
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.trial import FrozenTrial
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.validation import _check_feature_names, _check_n_features, check_is_fitted

from hyperflax import _study_keys as keys
from hyperflax._errors import DataError, TimeLimitError
from hyperflax.automl import _refit, _search, _stack
from hyperflax.automl._ensemble import greedy_ensemble
from hyperflax.automl._folds import Fold, holdout, kfold
from hyperflax.automl._members import Candidate
from hyperflax.automl._metrics import (
    THRESHOLD_METRICS,
    best_threshold,
    fit_temperature,
    resolve_metric,
    with_temperature,
)
from hyperflax.automl._preprocessing import categorical_mask
from hyperflax.automl._space import FAMILIES, PRESETS
from hyperflax.automl._tables import (
    as_frame,
    check_groups,
    check_target,
    infer_columns,
    normalize,
)
from hyperflax.automl._task import Deadline, Task, check_search_params

#: What ``fit`` learns besides the attributes ending in ``_`` (removed by the next ``fit``).
_PRIVATE = ("_oof", "_oof_rows", "_refit_data", "_fit_times")


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_)


#: Candidates kept after the search (their out-of-fold predictions and models), best first:
#: the ensemble's input is at most this many float32 arrays of (rows, classes).
_ENSEMBLE_CANDIDATES = 40
logger = logging.getLogger("hyperflax")


def _name(item: FrozenTrial | Candidate) -> str:
    """A candidate's name in the leaderboard: ``trial_<number>_<family>``."""
    if isinstance(item, FrozenTrial):
        return f"trial_{item.number}_{item.params['family']}"
    return f"trial_{item.trial}_{item.family}"


def _rows_of(ctx: _search.Context, predictions: np.ndarray) -> np.ndarray:
    """Out-of-fold predictions placed at their rows; NaN where no fold validated a row."""
    full = np.full((len(ctx.targets), *predictions.shape[1:]), np.nan, np.float32)
    full[ctx.rows] = predictions
    return full


class _Tabular(BaseEstimator):
    """The shared search-and-ensemble machinery of both estimators (see their docstrings)."""

    _classification = True

    def _check_params(self) -> None:
        check_search_params(self, PRESETS)
        if self.families is not None:
            bad = [f for f in self.families if f not in FAMILIES] if self.families else ["none"]
            if bad or isinstance(self.families, str):
                raise ValueError(
                    f"`families` must be a non-empty list of {list(FAMILIES)}, got "
                    f"{self.families!r}; e.g. families=['hgb', 'linear']"
                )
        f = self.n_folds
        if f is not None and (not _is_int(f) or f < 0 or f == 1):
            raise ValueError(
                f"`n_folds` must be None (the preset's), 0 (one held-out split) or an int >= 2 "
                f"to bag every candidate, got {f!r}"
            )
        n = self.n_seeds
        if not _is_int(n) or n < 1:
            raise ValueError(f"`n_seeds` must be an int >= 1, got {n!r}")
        r = self.n_repeats
        if not _is_int(r) or r < 1:
            raise ValueError(f"`n_repeats` must be an int >= 1, got {r!r}")
        for name in ("time_ordered", "stack"):
            if not isinstance(getattr(self, name), bool | np.bool_):
                raise ValueError(f"`{name}` must be True or False, got {getattr(self, name)!r}")
        folds = PRESETS[self.presets].n_folds if self.n_folds is None else self.n_folds
        if r > 1 and (self.time_ordered or not folds):
            raise ValueError(
                f"`n_repeats={r}` repeats k-fold bagging with other shuffles; it needs n_folds "
                f">= 2 (or presets='best') and time_ordered=False"
            )

    def _encode_target(self, y: np.ndarray) -> tuple[np.ndarray, Task]:
        return y, Task("regression")

    def _n_folds(self, n_rows: int) -> int:
        """The folds each candidate trains on (0: one held-out split)."""
        if self.n_folds is not None:
            return int(self.n_folds)
        preset = PRESETS[self.presets]
        per_s = preset.bag_rows_per_s
        if per_s is not None and n_rows > per_s * float(self.time_limit):
            return 0
        return min(preset.n_folds, n_rows)

    def _reset(self) -> None:
        """Forget everything a previous ``fit`` learned."""
        for name in [k for k in vars(self) if k.endswith("_") or k in _PRIVATE]:
            delattr(self, name)

    def fit(self, X: Any, y: Any, groups: Any = None) -> Any:
        """Searches candidate models within ``time_limit`` and ensembles the best of them.

        Args:
            X: A DataFrame (numeric, category, object, string and bool columns, missing values)
                or an array of shape ``(n_samples, n_features)``.
            y: Targets: class labels (str, int, bool) or numbers for regression.
            groups: Optional group label of each row (a patient, a customer): validation rows
                never share a group with the rows their model trained on.

        Returns:
            self.

        Raises:
            DataError: for invalid data, before any training.
            StudyMismatchError: when ``directory`` holds a study made for other data.
            TimeLimitError: when not even one model could be trained within ``time_limit``.
            SearchFailedError: when every candidate failed (the last one's error is given).
        """
        self._check_params()
        self._reset()
        if self.n_seeds > 1:
            return self._fit_seeds(X, y, groups)
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
        self.task_ = task
        if groups is not None and self.time_ordered:
            raise ValueError(
                "`groups` cannot be combined with time_ordered=True (time-ordered folds split "
                "by position); pass one of them"
            )
        folds = self._folds(targets, task, check_groups(groups, len(frame)))
        columns = infer_columns(frame)
        table = normalize(frame, columns)
        self.metric_ = resolve_metric(self.metric, task.classification).name
        families = tuple(self.families or PRESETS[self.presets].families)
        base_reserve = min(0.1 * self.time_limit, 1.0 + 0.03 * self.time_limit)
        bagged = len(folds) > 1
        refit = bool(self.refit) and not bagged and len(frame) <= _refit.REFIT_MAX_ROWS
        stack = bool(self.stack) and bagged and not self.time_ordered
        share = (_refit.REFIT_SHARE if refit else _stack.SHARE if stack else 0.0) * self.time_limit
        ensemble_by = deadline.at - share - 0.5 * base_reserve
        with tempfile.TemporaryDirectory(prefix="hx_automl_") as scratch:
            directory = Path(scratch if self.directory is None else self.directory)
            ctx = _search.Context(
                table, targets, folds, columns, task,
                resolve_metric(self.metric, task.classification), families,
                PRESETS[self.presets], self.seed, deadline,
                reserve=base_reserve + share,
                project=directory / self.project_name, bounded_trials=self.max_trials is not None,
                verbose=self.verbose, persist=self.directory is not None,
                fold_populations=self.population_size != 1,
            )  # fmt: skip
            settings = {"task": task.kind, "metric": self.metric_, "families": families,
                        "presets": self.presets, "seed": self.seed}  # fmt: skip
            trials, runs = _search.run_search(
                ctx, max_trials=self.max_trials, directory=directory,
                project_name=self.project_name,
                storage=optuna.storages.InMemoryStorage() if self.directory is None else None,
                tracker=self.tracker, settings=settings, population_size=self.population_size,
            )  # fmt: skip
            self._ensemble(ctx, trials, runs, deadline=ensemble_by)
            self.stack_: _stack.Stack | None = None
            if stack:
                self._fit_stack(ctx, deadline=deadline.at - 0.5 * base_reserve)
            self._calibrate(bagged, self.oof_predictions_, targets)
            self._fit_times = {
                t.number: float(t.user_attrs.get(keys.METRICS, {}).get("fit_time", np.inf))
                for t in trials
            }
            if refit:
                self._refit_members(
                    {k: ctx.prepare(k) for k in self.preprocessors_}, targets,
                    deadline=deadline.at - 0.5 * base_reserve,
                )  # fmt: skip
            elif bagged:  # kept for refit_full(), in this process only
                self._refit_data = ({k: ctx.prepare(k) for k in self.preprocessors_}, targets)
        self.problem_type_ = task.kind
        self.columns_ = columns
        return self

    def _fit_seeds(self, X: Any, y: Any, groups: Any) -> Any:
        """``n_seeds`` whole fits, seeds ``seed, seed + 1, ...``, sharing ``time_limit``."""
        deadline = Deadline(float(self.time_limit))
        runs = []
        for i in range(self.n_seeds):
            share = deadline.remaining() / (self.n_seeds - i)
            run = clone(self).set_params(
                n_seeds=1, seed=self.seed + i, time_limit=max(share, 1e-3),
                project_name=f"{self.project_name}_seed{i}",
            )  # fmt: skip
            try:
                runs.append(run.fit(X, y, groups))
            except TimeLimitError:
                if not runs:
                    raise
                logger.info("seed %d of %d did not fit in time; %d kept", i, self.n_seeds, i)
                break
        first = runs[0]
        for name in ("n_features_in_", "feature_names_in_", "classes_", "task_", "columns_",
                     "metric_", "problem_type_", "n_samples_fit_"):  # fmt: skip
            if hasattr(first, name):
                setattr(self, name, getattr(first, name))
        self._set_seeds(runs)
        bagged = all(run.leaderboard_["n_models"].max() > 1 for run in runs)
        targets = check_target(y, len(as_frame(X)), classification=self._classification)
        if self._classification:
            targets = LabelEncoder().fit(first.classes_).transform(targets)
        rows = ~np.isnan(self.oof_predictions_.reshape(len(targets), -1)[:, 0])
        metric = resolve_metric(self.metric_, self._classification)
        self.validation_score_ = metric(targets[rows], self.oof_predictions_[rows].astype(float))
        if self._classification:
            self._calibrate(bagged, self.oof_predictions_, targets)
        return self

    def _set_seeds(self, runs: list[Any]) -> None:
        """The attributes of a fit averaged over ``runs`` (one fit per seed)."""
        self.seeds_ = runs
        self.members_ = [(m, w / len(runs)) for run in runs for m, w in run.members_]
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # rows no fold validated: NaN
            self.oof_predictions_ = np.nanmean(
                [run.oof_predictions_ for run in runs], axis=0
            ).astype(np.float32)
        self.leaderboard_ = pd.concat(
            [run.leaderboard_.assign(seed=run.seed) for run in runs], ignore_index=True
        )

    def _folds(self, targets: np.ndarray, task: Task, groups: np.ndarray | None) -> list[Fold]:
        n_folds = self._n_folds(len(targets))
        if n_folds > len(targets):
            raise DataError(
                f"`n_folds` must be at most the number of rows, got n_folds={n_folds} for "
                f"{len(targets)} rows; pass a smaller n_folds"
            )
        options = {"seed": self.seed, "groups": groups, "time_ordered": self.time_ordered}
        if not n_folds:
            return holdout(targets, task, **options)
        return kfold(targets, task, n_folds=n_folds, n_repeats=self.n_repeats, **options)

    def _ensemble(
        self,
        ctx: _search.Context,
        trials: list[Any],
        runs: dict[int, str | None],
        *,
        deadline: float,
    ) -> None:
        metric = ctx.metric
        ranked = sorted(trials, key=lambda t: (metric.sign * t.value, t.number))
        pool = [(t, p) for t in ranked if (p := _search.held_out(ctx, t.number)) is not None]
        pool = pool[:_ENSEMBLE_CANDIDATES]
        if not pool:
            raise DataError("no candidate left held-out predictions; the project is incomplete")
        weights = greedy_ensemble([p for _, p in pool], ctx.y_scored, metric, deadline=deadline)
        weight_of = {t.number: float(w) for (t, _), w in zip(pool, weights, strict=True)}
        ensemble = sum(w * p for (_, p), w in zip(pool, weights, strict=True))
        self.validation_score_ = metric(ctx.y_scored, ensemble)
        self.n_samples_fit_ = len(ctx.targets)
        self.oof_predictions_ = _rows_of(ctx, ensemble)
        self._oof = {_name(t): p.astype(np.float32) for t, p in pool}
        self._oof_rows = ctx.rows
        self.models_ = {
            _name(t): _search.member_of(ctx, t.number)
            for rank, (t, _) in enumerate(pool)
            if t.number in ctx.members or weight_of[t.number] > 0 or rank < _stack.MAX_INPUTS
        }
        self.members_ = [(self.models_[_name(t)], weight_of[t.number])
                         for t, _ in pool if weight_of[t.number] > 0]  # fmt: skip
        for member in self.models_.values():
            ctx.prepare(member.preprocessor)  # a resumed study's models need their preprocessor
        kinds = {m.preprocessor for m in self.models_.values()}
        self.preprocessors_ = {kind: ctx.preprocessors[kind] for kind in kinds}
        rows = []
        for t in ranked:
            extra = t.user_attrs.get(keys.METRICS, {})
            rows.append({
                "model": _name(t), "family": t.params["family"],
                "hyperparameters": {k: v for k, v in t.params.items() if k != "family"},
                "validation_score": t.value,
                "fold_score_mean": extra.get("fold_score_mean", t.value),
                "fold_score_std": extra.get("fold_score_std", float("nan")),
                "fit_time": extra.get("fit_time"), "predict_time": extra.get("predict_time"),
                "ensemble_weight": weight_of.get(t.number, 0.0),
                "mlflow_run_id": runs.get(t.number), "n_models": len(ctx.folds),
                "refit_full": False,
            })  # fmt: skip
        self.leaderboard_ = pd.DataFrame(rows)

    def _calibrate(self, bagged: bool, oof: np.ndarray, targets: np.ndarray) -> None:
        """Sets ``decision_threshold_`` (binary classification; 0.5 unless calibrated)."""

    def _fit_stack(self, ctx: _search.Context, *, deadline: float) -> None:
        """Train the stack layer over the best candidates; keep it if it beats the ensemble."""
        names = [n for n in self._oof if n in self.models_][: _stack.MAX_INPUTS]
        inputs = [(self.models_[n], self._oof[n]) for n in names]
        for member, _ in inputs:
            ctx.prepare(member.preprocessor)
        try:
            stack, oof, scores = _stack.fit_stack(
                inputs, ctx.prepare("tree"), categorical_mask(ctx.columns), ctx.targets,
                ctx.folds, self.oof_predictions_, ctx.metric, ctx.task, deadline=deadline,
                seed=ctx.seed,
            )  # fmt: skip
        except (ValueError, ArithmeticError) as error:  # the stack is optional: say why not
            self.stack_check_ = {"kept": False, "error": f"{type(error).__name__}: {error}"}
            return
        self.stack_check_ = {**scores, "kept": stack is not None}
        if stack is None or oof is None:
            return
        self.stack_ = stack
        self.validation_score_ = ctx.metric(ctx.targets, oof.astype(np.float64))
        self.oof_predictions_ = oof
        self._oof[_stack.NAME] = oof
        self.preprocessors_["tree"] = ctx.preprocessors["tree"]
        board = self.leaderboard_
        board["ensemble_weight"] = 0.0  # the stack alone predicts
        row = {
            "model": _stack.NAME, "family": "stack",
            "hyperparameters": {**_stack.PARAMS, "inputs": names},
            "validation_score": self.validation_score_,
            "fold_score_mean": np.nan, "fold_score_std": np.nan, "fit_time": None,
            "predict_time": None, "ensemble_weight": 1.0, "mlflow_run_id": None,
            "n_models": len(ctx.folds), "refit_full": False,
        }  # fmt: skip
        self.leaderboard_ = pd.concat([pd.DataFrame([row]), board], ignore_index=True)

    def _refit_members(
        self, features: dict[str, np.ndarray], y: np.ndarray, *, deadline: float
    ) -> None:
        done = _refit.refit_members(
            self.members_, features.__getitem__, y, self._fit_times, self.task_,
            deadline=deadline,
        )  # fmt: skip
        self.members_ = [(member, weight) for member, weight, _ in done]
        refit = {_name(member) for member, _, again in done if again}
        self.models_.update({_name(m): m for m, _, again in done if again})
        board = self.leaderboard_
        board["refit_full"] = board["refit_full"] | board["model"].isin(refit)
        board.loc[board["model"].isin(refit), "n_models"] = 1

    def refit_full(self) -> Any:
        """Trains each bagged ensemble member once more on every row, replacing its k fold models.

        Prediction then runs one model per member instead of k (k times faster); the trade-off
        is that the refit models have no validation of their own: the leaderboard keeps the
        bagged candidates' out-of-fold scores, marks the refit members ``refit_full=True``
        and shows ``n_models=1``. Call it after ``fit`` in the same process (the training rows
        are not saved).

        Returns:
            self.

        Example:
            >>> clf = hx.automl.TabularClassifier(presets="best").fit(X, y)  # doctest: +SKIP
            >>> clf.refit_full().leaderboard()[["model", "refit_full"]]  # doctest: +SKIP
        """
        check_is_fitted(self, "members_")
        if hasattr(self, "seeds_"):
            if any(getattr(run, "stack_", None) is not None for run in self.seeds_):
                raise ValueError(
                    "refit_full() would change the base models whose predictions a seed's "
                    "stack layer was trained on; fit with stack=False to refit a bagged ensemble"
                )
            for run in self.seeds_:
                run.refit_full()
            self._set_seeds(self.seeds_)
            return self
        if getattr(self, "stack_", None) is not None:
            raise ValueError(
                "refit_full() would change the base models whose predictions the stack layer "
                "was trained on; fit with stack=False to refit a bagged ensemble"
            )
        if not hasattr(self, "_refit_data"):
            raise ValueError(
                "refit_full() needs a bagged fit in this process: fit with n_folds >= 2 or "
                "presets='best' and call refit_full() before save (a loaded estimator has no "
                "training rows), or use refit=True for the held-out split"
            )
        features, y = self._refit_data
        self._refit_members(features, y, deadline=np.inf)
        del self._refit_data
        return self

    def leaderboard(self) -> pd.DataFrame:
        """Every candidate, best first, as a DataFrame.

        Columns: model, family, hyperparameters, validation score (on the held-out split, or
        on out-of-fold predictions of every row when bagging), ``fold_score_mean`` and
        ``fold_score_std`` over the folds, fit time (all folds) and predict time (of the
        validation rows, per fold model) in seconds, ensemble weight, MLflow run id (None
        without tracking), ``n_models`` (fold models that predict), and ``refit_full``: whether
        the member was trained again on every row after the ensemble was chosen (its
        validation score stays that of its first model(s)). A kept stack layer is the first
        row (``stack_hgb``, weight 1); with ``n_seeds`` a ``seed`` column says which fit.

        Example:
            >>> clf.leaderboard()[["family", "validation_score"]]  # doctest: +SKIP
        """
        check_is_fitted(self, "leaderboard_")
        return self.leaderboard_.copy()

    def _predict_raw(self, X: Any, model: str | None = None) -> np.ndarray:
        check_is_fitted(self, "members_")
        if hasattr(self, "seeds_"):
            if model is not None:
                raise ValueError(
                    f"`model` must be None for a fit of n_seeds={len(self.seeds_)} seeds, got "
                    f"{model!r}; ask one seed's fit: est.seeds_[i].predict(X, model=...)"
                )
            return np.mean([run._predict_raw(X) for run in self.seeds_], axis=0)
        stack: _stack.Stack | None = getattr(self, "stack_", None)
        if (model is not None and model != _stack.NAME) or stack is None:
            stack = None
            members = self.members_ if model is None else [(self._model(model), 1.0)]
        else:
            members = [(m, 1.0) for m in stack.inputs]
        frame = as_frame(X)
        _check_feature_names(
            self, X if isinstance(X, pd.DataFrame) else frame.to_numpy(), reset=False
        )
        _check_n_features(self, frame, reset=False)
        if not (isinstance(X, pd.DataFrame) and hasattr(self, "feature_names_in_")):
            frame.columns = list(self.columns_.names)  # matched by position
        table = normalize(frame, self.columns_)
        kinds = {m.preprocessor for m, _ in members} | ({"tree"} if stack else set())
        inputs = {k: np.asarray(self.preprocessors_[k].transform(table), np.float64) for k in kinds}
        if stack is not None:
            return stack.predict(inputs, self.task_)
        outputs = [w * m.predict(inputs[m.preprocessor], self.task_) for m, w in members]
        return np.sum(outputs, axis=0)

    def _model(self, name: str) -> Candidate:
        if name not in self.models_:
            raise ValueError(
                f"`model` must be None (the ensemble) or a kept candidate, got {name!r}; kept: "
                f"{sorted(self.models_)} (the {_ENSEMBLE_CANDIDATES} best are kept after fit, "
                f"only the ensemble's members after load)"
            )
        return self.models_[name]

    def oof_predictions(self, model: str | None = None) -> np.ndarray:
        """Out-of-fold predictions of the ensemble or of one kept candidate, one row per row of X.

        Each row holds what models that never trained on it predicted (the mean over repeats):
        probabilities for classifiers (columns in the order of ``classes_``), values for
        regression, NaN for rows no fold validated (the training rows of a held-out split, the
        first block of time-ordered folds); float32.

        Args:
            model: A name from ``leaderboard()["model"]`` among the kept candidates, or ``None``
                for the ensemble (``oof_predictions_``).

        Example:
            >>> clf.oof_predictions("trial_0_hgb").shape  # doctest: +SKIP
            (569, 2)
        """
        check_is_fitted(self, "oof_predictions_")
        if model is None:
            return self.oof_predictions_.copy()
        if model not in getattr(self, "_oof", {}):
            raise ValueError(
                f"`model` must be None or a candidate kept after fit, got {model!r}; kept: "
                f"{sorted(getattr(self, '_oof', {}))} (out-of-fold predictions are not saved)"
            )
        full = np.full((self.n_samples_fit_, *self._oof[model].shape[1:]), np.nan, np.float32)
        full[self._oof_rows] = self._oof[model]
        return full

    def save(self, path: str | os.PathLike[str]) -> None:
        """Writes the fitted estimator to directory ``path`` without pickle (see ``load``).

        Example:
            >>> clf.save("model_dir")  # doctest: +SKIP
        """
        from hyperflax.automl._persistence import save

        save(self, Path(path))

    def export(
        self,
        path: str | os.PathLike[str],
        *,
        metadata: dict[str, Any] | None = None,
        overwrite: bool = False,
        formats: Sequence[str] = ("jax",),
    ) -> Path:
        """Export the whole fitted pipeline as one program: a hyperflax artifact and MLflow model.

        Preprocessing (imputation, scaling, category encodings as lookup tables over a JSON
        vocabulary), every ensemble member (boosted trees as arrays evaluated by JAX, linear
        and nearest-neighbour models, networks), bagged folds, the ensemble weights or stack
        layer, seeds and the decision threshold become one ``jax.export`` program and a
        pickle-free ``.npz``. ``hx.load_model(path)`` predicts without scikit-learn, Flax or
        pickle, from a DataFrame with the columns seen in ``fit`` (or rows in that order);
        ``mlflow models serve`` serves it.

        Args:
            path: The directory to write (atomically).
            metadata: JSON-serializable metadata added to what is recorded (metric,
                validation score, members and weights).
            overwrite: Replace an existing artifact at ``path``.
            formats: ``("jax",)``, with ``"onnx"`` to also write ``model.onnx`` (the same
                program as one ONNX graph taking the codes of ``hyperflax.json``'s columns, made
                by jax2onnx and checked by ONNX Runtime; ``pip install 'hyperflax[onnx]'``) and
                ``"ort"`` for ONNX Runtime Mobile.

        Returns:
            The absolute path of the artifact.

        Example:
            >>> clf.export("exported/clf")  # doctest: +SKIP
            >>> hx.load_model("exported/clf").predict_proba(X_test)  # doctest: +SKIP
        """
        check_is_fitted(self, "members_")
        from hyperflax.automl._export import export_estimator

        return export_estimator(self, path, metadata=metadata, overwrite=overwrite, formats=formats)

    def __getstate__(self) -> dict[str, Any]:
        """The estimator's state for pickle, without the training rows kept for refit_full."""
        state = super().__getstate__()
        state.pop("_refit_data", None)
        return state

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
        presets: ``"medium"`` (all families; up to 30 rows per second of ``time_limit``
            (1,800 rows for 60 s, 9,000 for 300 s) every candidate is bagged on 5 folds with a
            stack layer, above that one held-out split and a refit), ``"fast"``
            (HistGradientBoosting, linear, MLP; shorter network training; one held-out split)
            or ``"best"`` (``"medium"`` bagged at any size).
        metric: What the search and the ensemble optimize; ``None`` for the default.
        max_trials: At most this many candidates; with a ``seed`` the result is deterministic
            (when ``time_limit`` does not cut it short).
        families: Model families to include, a subset of ``"hgb"``, ``"kernel"`` (an RBF
            kernel model: logistic regression or ridge on Nystroem features), ``"realmlp"``,
            ``"tabm"``, ``"linear"``, ``"knn"``, ``"mlp"``; ``None`` for the preset's.
        seed: Seeds the split, the sampler and every model.
        directory: Parent folder of the project; ``None`` keeps a private temporary project per
            ``fit``. With a directory, rerunning a killed ``fit`` continues its study.
        project_name: The project's folder and study name inside ``directory``.
        tracker: ``None``, ``"mlflow"`` (each candidate a nested MLflow run) or a
            ``hx.tracking.Tracker``.
        verbose: Print one line per candidate when > 0.
        refit: With at most 10,000 rows and one held-out split, keep 15% of ``time_limit`` to
            train the ensemble's members again on every row once the ensemble is chosen
            (bagged fits predict with their fold models; see ``refit_full()``).
        population_size: Network candidates of one family train this many at a time in one
            ``vmap``-ed program (each still its own trial); ``"auto"`` is 1 on a CPU, where it
            does not pay, and 16 on an accelerator. When bagging, any value but 1 makes each
            network candidate's k fold models train together instead: one population of k in
            one ``vmap``-ed program over the same rows, each fold model on its own fold's rows
            (regression targets then standardized over every row); with 1 they train fold
            after fold. Either way they share one compiled program.
        n_folds: Bag every candidate: train it on each of ``n_folds`` folds (stratified for
            classification); it predicts the mean of its fold models, and the ensemble is
            chosen on out-of-fold predictions of every row. ``0``: one held-out split of 20%
            instead. ``None``: the preset's (see ``presets``).
        n_repeats: Repeat the k folds with other shuffles (each row validated once per repeat).
        time_ordered: Rows are in time order: validate on later rows than those trained on
            (the last 20%, or scikit-learn's ``TimeSeriesSplit`` folds with ``n_folds``).
        stack: When bagging (not time-ordered), try one stack layer: boosting on the features
            and the 10 best candidates' out-of-fold predictions, on the same folds, kept only
            when it beats the ensemble on 20% of the rows it did not train on
            (``stack_check_``); 10% of ``time_limit`` is kept for it.
        n_seeds: Average this many whole fits with seeds ``seed, seed + 1, ...`` (other
            folds, other models), each given an equal share of ``time_limit``; the fits are in
            ``seeds_``, the leaderboard lists each with its ``seed``; ``oof_predictions_`` and
            ``validation_score_`` are those of the mean.
"""


class TabularClassifier(ClassifierMixin, _Tabular):
    (
        """AutoML classifier for tables: a time-boxed search over model families, then an ensemble.
    """
        + _PARAMS_DOC
        + """        problem_type: ``None`` (detected from ``y``), ``"binary"`` or ``"multiclass"``.
        calibrate_threshold: For a binary task and metric accuracy, balanced accuracy or F1:
            choose the probability above which ``predict`` says the second class by that metric
            on the out-of-fold predictions (``decision_threshold_``). ``"auto"`` calibrates
            when bagging (out-of-fold predictions of every row), not on a small held-out split.

    With metric log loss, the ensemble's probabilities get a temperature (``temperature_``,
    ``p ** (1 / T)`` normalized, ``T <= 1``: an average of models is too unsure) fitted on the
    out-of-fold predictions, kept only when a cross-validation on those rows says it lowers
    the log loss of rows it was not fitted on; ``validation_score_`` is then that
    cross-validated log loss. The most probable class never changes.

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
        n_folds: int | None = None,
        n_repeats: int = 1,
        time_ordered: bool = False,
        stack: bool = True,
        n_seeds: int = 1,
        problem_type: str | None = None,
        calibrate_threshold: bool | str = "auto",
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
        self.n_folds = n_folds
        self.n_repeats = n_repeats
        self.time_ordered = time_ordered
        self.stack = stack
        self.n_seeds = n_seeds
        self.problem_type = problem_type
        self.calibrate_threshold = calibrate_threshold

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

    def _check_params(self) -> None:
        super()._check_params()
        if self.calibrate_threshold not in (True, False, "auto"):
            raise ValueError(
                f"`calibrate_threshold` must be True, False or 'auto', got "
                f"{self.calibrate_threshold!r}"
            )

    def _calibrate(self, bagged: bool, oof: np.ndarray, targets: np.ndarray) -> None:
        calibrate = bagged if self.calibrate_threshold == "auto" else self.calibrate_threshold
        self.decision_threshold_, self.temperature_ = 0.5, 1.0
        rows = ~np.isnan(oof[:, 1])
        if self.metric_ == "log_loss":
            self.temperature_, score = fit_temperature(
                oof[rows].astype(np.float64), targets[rows], seed=self.seed
            )
            if self.temperature_ != 1.0:
                self.validation_score_ = score
        if calibrate and len(self.classes_) == 2 and self.metric_ in THRESHOLD_METRICS:
            metric = resolve_metric(self.metric_, True)
            self.decision_threshold_ = best_threshold(oof[rows, 1], targets[rows], metric)
            above = (oof[rows, 1] >= self.decision_threshold_).astype(np.float64)
            self.validation_score_ = metric(targets[rows], np.stack([1 - above, above], axis=1))

    def predict_proba(self, X: Any, model: str | None = None) -> np.ndarray:
        """Class probabilities, columns in the order of ``classes_``.

        Args:
            X: Rows with the columns seen in ``fit``.
            model: ``None`` for the ensemble, or a kept candidate's name from ``leaderboard()``.
        """
        proba = self._predict_raw(X, model)
        proba = proba / proba.sum(axis=1, keepdims=True)
        temperature = getattr(self, "temperature_", 1.0)
        if model is not None or temperature == 1.0:
            return proba
        return with_temperature(proba, temperature)

    def predict(self, X: Any, model: str | None = None) -> np.ndarray:
        """The most probable class of each row.

        For two classes, the ensemble predicts the second class when its probability is at
        least ``decision_threshold_`` (a single ``model`` at 0.5).

        Args:
            X: Rows with the columns seen in ``fit``.
            model: ``None`` for the ensemble, or a kept candidate's name from ``leaderboard()``.
        """
        check_is_fitted(self, "members_")
        proba = self.predict_proba(X, model)
        if len(self.classes_) == 2 and model is None:
            threshold = getattr(self, "decision_threshold_", 0.5)
            return self.classes_[(proba[:, 1] >= threshold).astype(int)]
        return self.classes_[proba.argmax(axis=1)]


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
        n_folds: int | None = None,
        n_repeats: int = 1,
        time_ordered: bool = False,
        stack: bool = True,
        n_seeds: int = 1,
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
        self.n_folds = n_folds
        self.n_repeats = n_repeats
        self.time_ordered = time_ordered
        self.stack = stack
        self.n_seeds = n_seeds

    def predict(self, X: Any, model: str | None = None) -> np.ndarray:
        """Predicted values.

        Args:
            X: Rows with the columns seen in ``fit``.
            model: ``None`` for the ensemble, or a kept candidate's name from ``leaderboard()``.
        """
        return np.asarray(self._predict_raw(X, model), np.float64)
