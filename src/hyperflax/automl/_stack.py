"""One stack layer over bagged candidates, kept only when a held-out check says it helps.

The stacker is HistGradientBoosting on the original features (``"tree"`` preprocessing) plus
the out-of-fold predictions of the best ``MAX_INPUTS`` candidates, trained on the same folds as
they were, so a row's stack input never comes from a model that trained on that row. Before it
is kept, a check in the manner of AutoGluon's dynamic stacking: the stacker is trained once
more without a random ``CHECK_SHARE`` of the rows, and kept only when it beats the base
ensemble on those rows. (The base candidates did see those rows' labels when they predicted
the other rows; the check guards the stacker, not the base layer.) The stacker trained on
every row's folds must then also beat the ensemble on out-of-fold predictions of every row.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from hyperflax.automl._classic import fit_hgb
from hyperflax.automl._folds import Fold, out_of_fold
from hyperflax.automl._members import Bagged, Candidate, Member
from hyperflax.automl._metrics import Metric
from hyperflax.automl._task import Split, Task

#: Base candidates whose predictions the stacker sees: its input is at most
#: ``n_features + MAX_INPUTS * n_classes`` float64 columns.
MAX_INPUTS = 10
#: The share of rows the check holds out from the stacker.
CHECK_SHARE = 0.2
#: The share of ``time_limit`` a bagged fit keeps for the stack layer.
SHARE = 0.1
#: The stacker's boosting parameters: slow and regularized (its inputs are strong already).
PARAMS = {"learning_rate": 0.05, "max_leaf_nodes": 15, "min_samples_leaf": 20,
          "l2_regularization": 1.0, "max_features": 1.0}  # fmt: skip
NAME = "stack_hgb"


@dataclass
class Stack:
    """The kept stack layer: its base candidates and the bagged stacker over their predictions.

    Attributes:
        inputs: The base candidates whose predictions feed the stacker, in order.
        model: The stacker's fold models.
    """

    inputs: list[Candidate]
    model: Bagged

    def predict(self, features: dict[str, np.ndarray], task: Task) -> np.ndarray:
        """Predictions from rows preprocessed for every kind the inputs and the stacker use."""
        base = [m.predict(features[m.preprocessor], task) for m in self.inputs]
        return self.model.predict(design(features["tree"], base, task), task)


def design(x: Any, predictions: list[Any], task: Task, xp: Any = np) -> Any:
    """The stacker's input: features, then each candidate's predictions (binary: one column).

    ``xp`` is the array namespace: NumPy when fitting, ``jax.numpy`` inside an export.

    Example:
        >>> design(np.zeros((2, 1)), [np.array([[0.2, 0.8], [0.6, 0.4]])], Task("binary", 2))
        array([[0. , 0.8],
               [0. , 0.4]])
    """
    columns = [
        p[:, 1:] if task.kind == "binary" else p.reshape(p.shape[0], -1) for p in predictions
    ]
    return xp.concatenate([x, *columns], axis=1)


def _fit_folds(
    x: np.ndarray, y: np.ndarray, folds: list[Fold], categorical: np.ndarray, task: Task,
    *, deadline: float, seed: int,
) -> list[Member] | None:  # fmt: skip
    models = []
    for i, (train, val) in enumerate(folds):
        now = time.monotonic()
        if now >= deadline:
            return None
        data = Split(x[train], y[train], x[val], y[val], 0, categorical)
        share = now + (deadline - now) / (len(folds) - i)
        models.append(
            Member(-1, "hgb", PARAMS, fit_hgb(PARAMS, data, task, deadline=share, seed=seed))
        )
    return models


def fit_stack(
    inputs: list[tuple[Candidate, np.ndarray]],
    x_tree: np.ndarray,
    categorical: np.ndarray,
    y: np.ndarray,
    folds: list[Fold],
    ensemble: np.ndarray,
    metric: Metric,
    task: Task,
    *,
    deadline: float,
    seed: int,
) -> tuple[Stack | None, np.ndarray | None, dict[str, float]]:
    """Train the stack layer and check it against the base ensemble on held-out rows.

    Args:
        inputs: The best candidates and their out-of-fold predictions of every row.
        x_tree: Every row preprocessed for trees.
        categorical: Which columns of ``x_tree`` are categorical codes.
        y: Every row's target.
        folds: The folds the candidates were trained on (they validate every row).
        ensemble: The base ensemble's out-of-fold predictions of every row.
        metric: What to compare.
        task: The task.
        deadline: A ``time.monotonic()`` time to be done by; no stack when it passes.
        seed: Seeds the check's rows and the stacker.

    Returns:
        The stack (``None`` when a check rejects it or time runs out), its out-of-fold
        predictions of every row, and the checks' scores: ``"stack"`` and ``"ensemble"`` on
        the held-out rows, then ``"stack_oof"`` and ``"ensemble_oof"`` on every row.
    """
    x = design(x_tree, [p.astype(np.float64) for _, p in inputs], task)
    mask = np.concatenate([categorical, np.zeros(x.shape[1] - len(categorical), bool)])
    check = np.random.default_rng(seed).random(len(y)) < CHECK_SHARE
    kept = [(train[~check[train]], val[~check[val]]) for train, val in folds]
    models = _fit_folds(x, y, kept, mask, task, deadline=deadline, seed=seed)
    if models is None:
        return None, None, {}
    rows = np.flatnonzero(check)
    trial = Bagged(-1, "hgb", PARAMS, models).predict(x[rows], task)
    scores = {
        "stack": metric(y[rows], trial),
        "ensemble": metric(y[rows], ensemble[rows].astype(np.float64)),
    }
    if metric.sign * scores["stack"] >= metric.sign * scores["ensemble"]:
        return None, None, scores
    models = _fit_folds(x, y, folds, mask, task, deadline=deadline, seed=seed)
    if models is None:
        return None, None, scores
    parts = [m.predict(x[val], task) for m, (_, val) in zip(models, folds, strict=True)]
    oof = out_of_fold(folds, parts, np.arange(len(y)), len(y))
    scores["stack_oof"] = metric(y, oof.astype(np.float64))
    scores["ensemble_oof"] = metric(y, ensemble.astype(np.float64))
    if metric.sign * scores["stack_oof"] >= metric.sign * scores["ensemble_oof"]:
        return None, None, scores  # better on the check's rows only: noise
    stack = Stack([m for m, _ in inputs], Bagged(-1, "hgb", PARAMS, models))
    return stack, oof, scores
