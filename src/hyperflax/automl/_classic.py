"""scikit-learn families: boosting (grown in chunks under a deadline), linear, RBF kernel, kNN."""

from __future__ import annotations

import contextlib
import time
import warnings
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.kernel_approximation import Nystroem
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler
from threadpoolctl import threadpool_limits

from hyperflax.automl._task import Split, Task, full_proba

_MAX_ITER = 2000
_FIRST_CHUNK = 50
#: Below this many rows HistGradientBoosting runs on one OpenMP thread: its per-tree work is
#: too small to share, and on a busy machine the threads' barriers cost more than the trees
#: (measured: 569 rows, 0.1 s on one thread against 6.9 s on two beside other processes).
_THREADED_ROWS = 10_000
#: Landmark rows of the kernel family's Nystroem features: at most this many, and fewer on
#: large tables, so that rows x landmarks stays under ``_KERNEL_CELLS`` (measured on 2 cores:
#: 1,077 rows x 1,000 landmarks fit in 1.5 s, 10,300 x 1,000 in 15 s).
KERNEL_COMPONENTS = 1000
_KERNEL_CELLS = 4_000_000


def _threads(n_rows: int) -> contextlib.AbstractContextManager[Any]:
    """One OpenMP thread for small data, all of them for large data."""
    return threadpool_limits(1 if n_rows < _THREADED_ROWS else None, user_api="openmp")


def fit_hgb(params: dict[str, Any], data: Split, task: Task, *, deadline: float, seed: int) -> Any:
    """HistGradientBoosting with early stopping on the held-out part, grown until ``deadline``.

    Trees are added in chunks (``warm_start``); a chunk is sized to end before ``deadline``.
    """
    cls = HistGradientBoostingClassifier if task.classification else HistGradientBoostingRegressor
    model = cls(
        learning_rate=params["learning_rate"],
        max_leaf_nodes=params["max_leaf_nodes"],
        min_samples_leaf=params["min_samples_leaf"],
        l2_regularization=params["l2_regularization"],
        max_features=params["max_features"],
        categorical_features=data.categorical if data.categorical.any() else None,
        early_stopping=True,
        n_iter_no_change=20,
        warm_start=True,
        random_state=seed,
    )
    x_val, y_val = data.x_val, data.y_val
    if task.classification:  # a class the training rows lack cannot be scored
        seen = np.isin(y_val, data.y_train)
        x_val, y_val = x_val[seen], y_val[seen]
    validation = {"X_val": x_val, "y_val": y_val} if len(y_val) else {}
    total, chunk = 0, _FIRST_CHUNK
    while chunk >= 1:
        started = time.monotonic()
        model.set_params(max_iter=total + chunk)
        with _threads(len(data.y_train)):
            model.fit(data.x_train, data.y_train, **validation)
        if model.n_iter_ < total + chunk or model.n_iter_ >= _MAX_ITER:
            break  # early stopping ended it
        per_tree = (time.monotonic() - started) / chunk
        total = model.n_iter_
        chunk = int(
            min(4 * chunk, _MAX_ITER - total, 0.8 * (deadline - time.monotonic()) / per_tree)
        )
    return model


def fit_linear(
    params: dict[str, Any], data: Split, task: Task, *, deadline: float, seed: int
) -> Any:
    """LogisticRegression (classification) or Ridge (regression) on quantile-scaled features."""
    if not task.classification:
        return Ridge(alpha=params["alpha"]).fit(data.x_train, data.y_train)
    model = LogisticRegression(C=params["C"], max_iter=500, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(data.x_train, data.y_train)


def fit_kernel(
    params: dict[str, Any], data: Split, task: Task, *, deadline: float, seed: int
) -> Any:
    """An RBF kernel model: logistic regression (or ridge) on Nystroem features.

    Features are min-max scaled first (bounded, so no column dominates the distances), and
    ``params["gamma"]`` is relative to scikit-learn's ``"scale"``: ``1 / (n_features * var)``
    of the scaled rows. On digits it is the strongest single family (test log loss 0.04-0.05,
    in 1-2 s, against 0.095 for RealMLP).
    """
    scaler = MinMaxScaler(clip=True)
    scaled = scaler.fit_transform(data.x_train)
    gamma = float(params["gamma"]) / (scaled.shape[1] * max(float(scaled.var()), 1e-12))
    n = len(data.y_train)
    landmarks = max(min(100, n), min(KERNEL_COMPONENTS, n, _KERNEL_CELLS // n))
    kernel = Nystroem(gamma=gamma, n_components=landmarks, random_state=seed)
    head = (
        LogisticRegression(C=params["C"], max_iter=500, random_state=seed)
        if task.classification
        else Ridge(alpha=params["alpha"])
    )
    model = Pipeline([("scale", scaler), ("kernel", kernel), ("linear", head)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(data.x_train, data.y_train)


def fit_knn(params: dict[str, Any], data: Split, task: Task, *, deadline: float, seed: int) -> Any:
    """Nearest neighbours on quantile-scaled features (a family AutoGluon's portfolios keep)."""
    cls = KNeighborsClassifier if task.classification else KNeighborsRegressor
    k = max(1, min(int(params["n_neighbors"]), len(data.y_train)))
    model = cls(n_neighbors=k, weights=params["weights"], algorithm="brute")  # no tree to store
    return model.fit(data.x_train, data.y_train)


def fit_constant(data: Split) -> Any:
    """The training rows' only class, always (a fold of rare classes can hold just one)."""
    return DummyClassifier(strategy="prior").fit(data.x_train, data.y_train)


def predict_sklearn(model: Any, x: np.ndarray, task: Task) -> np.ndarray:
    """Class probabilities over all classes, or regression values."""
    with _threads(len(x)):
        if task.classification:
            return full_proba(model.predict_proba(x), model.classes_, task.n_classes)
        return np.asarray(model.predict(x), np.float64)


def refit_sklearn(model: Any, x: np.ndarray, y: np.ndarray) -> Any:
    """The same configuration fit again on ``x, y``; boosting keeps the trees it found best.

    Example:
        >>> from sklearn.linear_model import Ridge
        >>> refit_sklearn(Ridge(), np.eye(3), np.arange(3.0)).coef_.shape
        (3,)
    """
    fresh = clone(model)
    if isinstance(model, HistGradientBoostingClassifier | HistGradientBoostingRegressor):
        n_iter = getattr(model, "n_iter_", model.max_iter)
        fresh.set_params(max_iter=n_iter, early_stopping=False, warm_start=False)
    with _threads(len(y)), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fresh.fit(x, y)
