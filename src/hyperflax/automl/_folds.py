"""How rows are split for validation: one held-out part, or k folds repeated (bagging)."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.model_selection import (
    GroupKFold,
    KFold,
    StratifiedGroupKFold,
    StratifiedKFold,
    TimeSeriesSplit,
    train_test_split,
)

from hyperflax._errors import DataError
from hyperflax.automl._task import Task

Fold = tuple[np.ndarray, np.ndarray]  # (training rows, validation rows), sorted
HOLDOUT = 0.2  # the validation share of the single held-out split


def _stratifiable(targets: np.ndarray, task: Task) -> bool:
    """Whether to stratify: whenever every class has two rows.

    Each class is then in every training part; scikit-learn warns when a class has fewer rows
    than folds, which is expected here.
    """
    return task.classification and int(np.bincount(targets).min()) >= 2


def holdout(
    targets: np.ndarray,
    task: Task,
    *,
    seed: int,
    groups: np.ndarray | None = None,
    time_ordered: bool = False,
) -> list[Fold]:
    """One split: 20% of the rows held out (the last 20% when ``time_ordered``).

    Stratified by class where every class has two rows; whole groups go to one side.

    Example:
        >>> train, val = holdout(np.array([0, 1] * 5), Task("binary", 2), seed=0)[0]
        >>> len(train), len(val)
        (8, 2)
    """
    n = len(targets)
    rows = np.arange(n)
    n_val = max(1, round(HOLDOUT * n))
    if time_ordered:
        return [(rows[: n - n_val], rows[n - n_val :])]
    if groups is not None:
        return [_first(GroupKFold(_n_group_folds(groups, round(1 / HOLDOUT))), rows, None, groups)]
    stratify = None
    if task.classification:
        counts = np.bincount(targets)
        if counts.min() >= 2 and n_val >= task.n_classes and n - n_val >= task.n_classes:
            stratify = targets
    train, val = train_test_split(rows, test_size=n_val, stratify=stratify, random_state=seed)
    return [(np.sort(train), np.sort(val))]


def _first(splitter: object, rows: np.ndarray, y: np.ndarray | None, groups: np.ndarray) -> Fold:
    train, val = next(splitter.split(rows, y, groups))  # type: ignore[attr-defined]
    return np.sort(train), np.sort(val)


def _n_group_folds(groups: np.ndarray, wanted: int) -> int:
    n_groups = len(np.unique(groups))
    if n_groups < 2:
        raise DataError(
            f"`groups` must hold at least 2 distinct groups to validate on unseen groups, got "
            f"{n_groups}; pass groups=None"
        )
    return min(wanted, n_groups)


def kfold(
    targets: np.ndarray,
    task: Task,
    *,
    n_folds: int,
    n_repeats: int,
    seed: int,
    groups: np.ndarray | None = None,
    time_ordered: bool = False,
) -> list[Fold]:
    """``n_folds`` folds, ``n_repeats`` times with other shuffles.

    Every row is validated once per repeat, except for time-ordered folds: each validates on
    the rows after its training rows, so the first block is never validated (no repeats).

    Stratified for classification where every class has two rows; whole groups stay in one
    fold (stratified by class too where possible).

    Example:
        >>> folds = kfold(np.array([0, 1] * 6), Task("binary", 2), n_folds=3, n_repeats=2,
        ...               seed=0)
        >>> len(folds), sorted(np.concatenate([v for _, v in folds[:3]]).tolist()) == list(
        ...     range(12))
        (6, True)
    """
    rows = np.arange(len(targets))
    if time_ordered:
        splits = TimeSeriesSplit(n_folds).split(rows)
        return [(np.sort(t), np.sort(v)) for t, v in splits]
    out: list[Fold] = []
    for repeat in range(n_repeats):
        state = seed + repeat
        if groups is not None:
            k = _n_group_folds(groups, n_folds)
            splitter: object = (
                StratifiedGroupKFold(k, shuffle=True, random_state=state)
                if _stratifiable(targets, task)
                else GroupKFold(k, shuffle=True, random_state=state)
            )
            splits = splitter.split(rows, targets, groups)  # type: ignore[attr-defined]
        elif _stratifiable(targets, task):
            splits = StratifiedKFold(n_folds, shuffle=True, random_state=state).split(rows, targets)
        else:
            splits = KFold(n_folds, shuffle=True, random_state=state).split(rows)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "The least populated class", UserWarning)
            out.extend((np.sort(t), np.sort(v)) for t, v in splits)
    return out


def validated_rows(folds: list[Fold], n_rows: int) -> np.ndarray:
    """The rows some fold validates on (all rows, except held-out and time-ordered splits).

    Example:
        >>> validated_rows([(np.array([0, 1]), np.array([2]))], 3).tolist()
        [2]
    """
    seen = np.zeros(n_rows, bool)
    for _, val in folds:
        seen[val] = True
    return np.flatnonzero(seen)


def out_of_fold(
    folds: list[Fold], predictions: list[np.ndarray], rows: np.ndarray, n_rows: int
) -> np.ndarray:
    """Each validated row's mean prediction over the folds that validate it, in float32.

    Args:
        folds: The folds.
        predictions: One array per fold: the fold model's predictions on its validation rows.
        rows: ``validated_rows(folds, n_rows)``: the rows of the output, in order.
        n_rows: Rows of the table.

    Example:
        >>> folds = [(np.array([1]), np.array([0])), (np.array([0]), np.array([1]))]
        >>> out_of_fold(folds, [np.array([0.2]), np.array([0.8])], np.arange(2), 2).tolist()
        [0.20000000298023224, 0.800000011920929]
    """
    shape = (n_rows, *predictions[0].shape[1:])
    total = np.zeros(shape, np.float64)
    counts = np.zeros(n_rows, np.int64)
    for (_, val), p in zip(folds, predictions, strict=True):
        total[val] += p
        counts[val] += 1
    counts = counts.reshape((-1,) + (1,) * (len(shape) - 1))
    return (total / np.maximum(counts, 1))[rows].astype(np.float32)
