"""Fit one AutoML system on one train/test pair; used by ``bench/automl_vs_peers.py``.

Runs as a plain script in whichever venv has the system (the peers' venv for FLAML and
AutoGluon, the project venv for hyperflax), so it imports nothing from ``bench``:

    python bench/_automl_runner.py SYSTEM WORKDIR TIME_LIMIT TASK SEED

WORKDIR holds ``train.parquet`` (features + the target column named in ``meta.json``) and
``test.parquet`` (features). It writes ``WORKDIR/predictions.json`` (predictions, and for
classification the class labels and class probabilities) and prints one ``RESULT {json}`` line
with the fit and predict wall times and the system's version.
"""

import functools
import importlib.metadata
import inspect
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def fit_hyperflax(x, y, x_test, task, time_limit, seed, workdir, presets="medium"):
    from hyperflax import automl

    cls = automl.TabularRegressor if task == "regression" else automl.TabularClassifier
    kwargs = {"time_limit": time_limit, "seed": seed}
    if presets != "medium":
        kwargs["presets"] = presets
    if "directory" in inspect.signature(cls).parameters:
        kwargs["directory"] = str(workdir / "hx_runs")
    est = cls(**kwargs)
    start = time.perf_counter()
    est.fit(x, y)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    pred = est.predict(x_test)
    proba = classes = None
    if task != "regression":
        proba, classes = est.predict_proba(x_test), est.classes_
    VALIDATION["score"] = float(est.validation_score_)
    return fit_s, time.perf_counter() - start, pred, proba, classes, _version("hyperflax")


def fit_flaml(x, y, x_test, task, time_limit, seed, workdir):
    from flaml import AutoML

    automl = AutoML()
    start = time.perf_counter()
    automl.fit(
        x,
        y,
        task="regression" if task == "regression" else "classification",
        metric="rmse" if task == "regression" else "log_loss",
        time_budget=time_limit,
        seed=seed,
        verbose=0,
        log_file_name=str(workdir / "flaml.log"),
    )
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    pred = automl.predict(x_test)
    proba = classes = None
    if task != "regression":
        proba, classes = automl.predict_proba(x_test), automl.classes_
    return fit_s, time.perf_counter() - start, pred, proba, classes, _version("flaml")


def fit_autogluon(x, y, x_test, task, time_limit, seed, workdir, presets="medium_quality"):
    from autogluon.tabular import TabularPredictor

    label = y.name
    predictor = TabularPredictor(
        label=label,
        problem_type=task,
        eval_metric="root_mean_squared_error" if task == "regression" else "log_loss",
        path=str(workdir / "autogluon"),
        verbosity=0,
    )
    start = time.perf_counter()
    predictor.fit(x.assign(**{label: y}), presets=presets, time_limit=time_limit)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    pred = predictor.predict(x_test)
    proba = classes = None
    if task != "regression":
        frame = predictor.predict_proba(x_test, as_multiclass=True)
        proba, classes = frame.to_numpy(), list(frame.columns)
    board = predictor.leaderboard(silent=True)
    best = board["model"] == predictor.model_best
    VALIDATION["score"] = -float(board.loc[best, "score_val"].iloc[0])  # higher is better
    return fit_s, time.perf_counter() - start, pred, proba, classes, _version("autogluon.tabular")


SYSTEMS = {
    "hyperflax": fit_hyperflax,
    "hyperflax-best": functools.partial(fit_hyperflax, presets="best"),
    "flaml": fit_flaml,
    "autogluon": fit_autogluon,
    "autogluon-best": functools.partial(fit_autogluon, presets="best_quality"),
}
#: The system's own validation estimate of its final model (log loss / RMSE), where it has one.
VALIDATION: dict[str, float] = {}


def _peak_rss_mb() -> float:
    """The peak resident memory of this process and of its largest child, in MiB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (own + children) / 1024


def _plain(values) -> list:
    return [v.item() if isinstance(v, np.generic) else v for v in np.asarray(values).tolist()]


def main(argv: list[str]) -> None:
    system, workdir, time_limit, task, seed = argv
    workdir = Path(workdir)
    meta = json.loads((workdir / "meta.json").read_text())
    train = pd.read_parquet(workdir / "train.parquet")
    x_test = pd.read_parquet(workdir / "test.parquet")
    y = train.pop(meta["target"])
    fit_s, predict_s, pred, proba, classes, version = SYSTEMS[system](
        train, y, x_test, task, float(time_limit), int(seed), workdir
    )
    out = {"pred": _plain(pred)}
    if proba is not None:
        out["proba"] = np.asarray(proba, dtype=float).tolist()
        out["classes"] = [str(c) for c in _plain(classes)]
    (workdir / "predictions.json").write_text(json.dumps(out))
    result = {
        "fit_s": fit_s,
        "predict_s": predict_s,
        "version": version,
        "peak_rss_mb": _peak_rss_mb(),
        "validation": VALIDATION.get("score"),
    }
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
