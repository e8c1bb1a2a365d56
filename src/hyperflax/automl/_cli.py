"""``hyperflax automl TRAIN.csv --target COL``: fit a CSV table, print the leaderboard, predict."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from pandas.api import types

from hyperflax.automl._estimators import TabularClassifier, TabularRegressor

_MAX_CLASSES = 20


def infer_task(y: pd.Series) -> str:
    """``"classification"`` for labels (text, bool, or few distinct integers), else regression.

    Example:
        >>> infer_task(pd.Series(["cat", "dog", "cat"])), infer_task(pd.Series([0.5, 1.7, 2.1]))
        ('classification', 'regression')
    """
    values = y.dropna()
    if not types.is_numeric_dtype(values) or types.is_bool_dtype(values):
        return "classification"
    integral = bool((values == values.round()).all())
    few = values.nunique() <= min(_MAX_CLASSES, max(2, len(values) // 20))
    return "classification" if integral and few else "regression"


def _print_leaderboard(estimator: TabularClassifier | TabularRegressor, kind: str) -> None:
    board = estimator.leaderboard()
    n_models = int(board["n_models"].max())
    where = (
        f"out-of-fold predictions of {n_models} fold models"
        if n_models > 1
        else "the held-out split"
    )
    columns = ["model", "validation_score", "fit_time", "ensemble_weight"]
    if n_models > 1:
        columns[2:2] = ["fold_score_mean", "fold_score_std"]
    with pd.option_context("display.width", 120, "display.max_columns", 10):
        print(f"{kind}, {estimator.metric_} on {where} (validation_score):")
        print(board[columns].head(15).to_string(index=False))
        print(f"ensemble validation {estimator.metric_}: {estimator.validation_score_:.6g}")


def _predictions(
    estimator: TabularClassifier | TabularRegressor, rows: pd.DataFrame, target: str, proba: bool
) -> pd.DataFrame:
    """Labels or values in a column named ``target``; or probabilities (see ``run``)."""
    if not proba:
        return pd.DataFrame({target: estimator.predict(rows)})
    p = estimator.predict_proba(rows)
    if p.shape[1] == 2:
        return pd.DataFrame({target: p[:, 1]})
    return pd.DataFrame(p, columns=[str(c) for c in estimator.classes_])


def _read(path: str, what: str) -> pd.DataFrame:
    if not Path(path).is_file():
        raise SystemExit(f"hyperflax automl: {what} {path!r} is not a file; give a CSV file")
    return pd.read_csv(path)


def run(
    train: str,
    *,
    target: str,
    test: str | None = None,
    output: str | None = None,
    id_column: str | None = None,
    task: str = "auto",
    time_limit: float = 300,
    metric: str | None = None,
    presets: str = "medium",
    seed: int = 0,
    model_dir: str = "hx_automl_model",
    n_folds: int | None = None,
    max_trials: int | None = None,
    proba: bool = False,
) -> TabularClassifier | TabularRegressor:
    """Fit an AutoML estimator on a CSV table; print its leaderboard; save it; predict ``test``.

    Args:
        train: the training CSV file.
        target: the column to predict.
        test: a CSV file to predict (same columns, the target may be missing).
        output: where to write the predictions (default ``predictions.csv`` when ``test``).
        id_column: a column copied to the predictions and never used as a feature.
        task: ``"auto"``, ``"classification"`` or ``"regression"``.
        time_limit: seconds for the whole fit.
        metric: the metric to optimize; ``None`` for the default.
        presets: ``"medium"``, ``"fast"`` or ``"best"`` (bagged on 5 folds).
        seed: the seed.
        model_dir: where the fitted estimator is saved (``hx.automl.load`` reads it).
        n_folds: bag every candidate on this many folds (``None``: the preset's).
        max_trials: at most this many candidates (with a seed: the same submission each run).
        proba: write class probabilities instead of labels: one column named ``target`` with
            the second class's probability for a binary task, one column per class otherwise.

    Returns:
        The fitted estimator.

    Example:
        >>> run("train.csv", target="price", test="test.csv", time_limit=60)  # doctest: +SKIP
    """
    table = _read(train, "TRAIN")
    if target not in table.columns:
        raise SystemExit(
            f"hyperflax automl: --target {target!r} is not a column of {train}; "
            f"columns: {list(table.columns)}"
        )
    for name in [id_column] if id_column else []:
        if name not in table.columns:
            raise SystemExit(f"hyperflax automl: --id-column {name!r} is not a column of {train}")
    if task not in ("auto", "classification", "regression"):
        raise SystemExit("hyperflax automl: --task must be auto, classification or regression")
    labelled = table.dropna(subset=[target])
    y = labelled[target]
    x = labelled.drop(columns=[c for c in (target, id_column) if c])
    kind = infer_task(y) if task == "auto" else task
    if proba and kind != "classification":
        raise SystemExit("hyperflax automl: --proba needs a classification target")
    family = TabularClassifier if kind == "classification" else TabularRegressor
    estimator = family(
        time_limit=time_limit, metric=metric, presets=presets, seed=seed, verbose=1,
        n_folds=n_folds, max_trials=max_trials,
    )  # fmt: skip
    try:
        estimator._check_params()
    except ValueError as error:
        raise SystemExit(f"hyperflax automl: {error}") from error
    estimator.fit(x, y)
    _print_leaderboard(estimator, kind)
    estimator.save(model_dir)
    print(f"model saved to {model_dir} (hx.automl.load({model_dir!r}))")
    if test is not None:
        rows = _read(test, "--test")
        features = rows.drop(columns=[c for c in (target, id_column) if c and c in rows])
        predictions = _predictions(estimator, features, target, proba)
        if id_column:
            predictions.insert(0, id_column, rows[id_column].to_numpy())
        destination = Path(output or "predictions.csv")
        predictions.to_csv(destination, index=False)
        print(f"{len(predictions)} predictions written to {destination}")
    return estimator
