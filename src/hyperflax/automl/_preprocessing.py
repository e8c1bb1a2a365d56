"""Preprocessing pipelines, all scikit-learn: one per kind of model family.

- ``"tree"``: numbers pass through (NaN stays NaN), categories become ordinal codes for
  HistGradientBoosting's native categorical support (unseen categories become missing).
- ``"robust"`` (RealMLP, MLP) and ``"quantile"`` (TabM, linear): median imputation with
  missing indicators, then robust or quantile scaling of numbers; one-hot encoding for few
  categories, target encoding for many.

In every output the first ``len(columns.numeric)`` columns are the numeric features.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import (
    OneHotEncoder,
    OrdinalEncoder,
    QuantileTransformer,
    RobustScaler,
    StandardScaler,
    TargetEncoder,
)

from hyperflax.automl._tables import Columns

KINDS = ("tree", "robust", "quantile")
MAX_ONE_HOT = 16  # categories; more are target encoded
_MAX_TREE_CATEGORIES = 250  # HistGradientBoosting takes at most 255 bins


def make_preprocessor(
    kind: str,
    columns: Columns,
    frame: pd.DataFrame,
    *,
    target_type: str,
    seed: int,
    cv: list[tuple[np.ndarray, np.ndarray]] | None = None,
) -> ColumnTransformer:
    """An unfitted ColumnTransformer for ``kind`` (see the module docstring).

    Args:
        kind: ``"tree"``, ``"robust"`` or ``"quantile"``.
        columns: The typed columns.
        frame: The normalized training table (to count categories).
        target_type: ``"binary"``, ``"multiclass"`` or ``"continuous"`` (for target encoding).
        seed: Seeds the quantile subsampling and target encoding folds.
        cv: The folds target encoding cross-fits on (rows of ``frame``); ``None`` for five
            shuffled folds.

    Example:
        >>> import pandas as pd
        >>> cols = Columns(("a", "b"), ("a",), ("b",))
        >>> frame = pd.DataFrame({"a": [1.0, None, 3.0], "b": ["x", "y", None]})
        >>> pre = make_preprocessor("tree", cols, frame, target_type="binary", seed=0)
        >>> pre.fit_transform(frame).tolist()
        [[1.0, 0.0], [nan, 1.0], [3.0, nan]]
    """
    numeric, categorical = list(columns.numeric), list(columns.categorical)
    if kind == "tree":
        ordinal = OrdinalEncoder(
            handle_unknown="use_encoded_value", unknown_value=np.nan,
            encoded_missing_value=np.nan, max_categories=_MAX_TREE_CATEGORIES,
        )  # fmt: skip
        # A column missing in every training row is all-NaN, which HistGradientBoosting's
        # binning cannot take: it becomes a constant 0 (a gap stays one at predict time).
        empty = [c for c in numeric if frame[c].isna().all()]
        fill = SimpleImputer(strategy="constant", fill_value=0.0, keep_empty_features=True)
        parts = [
            ("num", "passthrough", [c for c in numeric if c not in empty]),
            ("empty", fill, empty),
            ("cat", ordinal, categorical),
        ]
    elif kind in ("robust", "quantile"):
        n = len(frame)
        scaler = (
            RobustScaler()
            if kind == "robust"
            else QuantileTransformer(
                n_quantiles=max(2, min(1000, n)), output_distribution="normal", random_state=seed
            )
        )
        imputer = SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)
        few = [c for c in categorical if frame[c].nunique(dropna=False) <= MAX_ONE_HOT]
        many = [c for c in categorical if c not in few]
        parts = [
            ("num", make_pipeline(imputer, scaler), numeric),
            ("few", OneHotEncoder(handle_unknown="ignore", sparse_output=False), few),
            (
                "many",
                make_pipeline(
                    TargetEncoder(
                        target_type=target_type,
                        cv=KFold(5, shuffle=True, random_state=seed) if cv is None else cv,
                    ),
                    StandardScaler(),
                ),
                many,
            ),
        ]
    else:
        raise ValueError(f"`kind` must be one of {KINDS}, got {kind!r}")
    parts = [part for part in parts if part[2]]
    return ColumnTransformer(parts, sparse_threshold=0.0, verbose_feature_names_out=False)


def categorical_mask(columns: Columns) -> np.ndarray:
    """Which columns of a ``"tree"`` output are categorical codes (for HistGradientBoosting).

    Example:
        >>> categorical_mask(Columns(("a", "b"), ("a",), ("b",))).tolist()
        [False, True]
    """
    return np.array([False] * len(columns.numeric) + [True] * len(columns.categorical))
