"""Input checks and column typing: any table in, a clean DataFrame of numbers and strings out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.utils import check_array
from sklearn.utils.multiclass import check_classification_targets, type_of_target

from hyperflax._errors import DataError
from hyperflax.export._table import as_numbers, as_text


@dataclass(frozen=True)
class Columns:
    """The columns seen in ``fit``: their names and which are numeric or categorical.

    Example:
        >>> Columns(("a", "b"), ("a",), ("b",)).n_features
        2
    """

    names: tuple[str, ...]
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]

    @property
    def n_features(self) -> int:
        """The number of input columns."""
        return len(self.names)


def as_frame(X: Any, name: str = "X") -> pd.DataFrame:
    """``X`` as a DataFrame with string column names; NumPy columns are named ``x0, x1, ...``.

    Raises:
        DataError: when ``X`` is empty, not two-dimensional, complex or holds infinities.

    Example:
        >>> as_frame([[1.0, 2.0]]).columns.tolist()
        ['x0', 'x1']
    """
    if isinstance(X, pd.DataFrame):
        if X.shape[0] == 0 or X.shape[1] == 0:
            raise DataError(f"`{name}` must not be empty, got a DataFrame of shape {X.shape}")
        frame = X.copy()
        frame.columns = [str(c) for c in X.columns]
        if frame.columns.duplicated().any():
            raise DataError(f"`{name}` must have unique column names, got {list(frame.columns)}")
        numeric = frame.select_dtypes("number")
        if numeric.shape[1] and np.isinf(numeric.to_numpy(dtype=float, na_value=np.nan)).any():
            raise DataError(f"`{name}` must not contain infinity; replace it by NaN or a number")
        return frame.reset_index(drop=True)
    try:
        array = check_array(X, dtype=None, ensure_all_finite="allow-nan", input_name=name)
    except ValueError as error:
        raise DataError(str(error)) from error
    return pd.DataFrame(array, columns=[f"x{i}" for i in range(array.shape[1])])


def infer_columns(frame: pd.DataFrame) -> Columns:
    """Splits columns into numeric (numbers, booleans) and categorical (everything else).

    An object column whose values all parse as numbers (as in an object NumPy array) is numeric.

    Example:
        >>> import pandas as pd
        >>> infer_columns(pd.DataFrame({"a": [1.0], "b": ["x"], "c": [True]})).categorical
        ('b',)
    """
    numeric, categorical = [], []
    for column in frame.columns:
        values = frame[column]
        if (
            pd.api.types.is_bool_dtype(values)
            or pd.api.types.is_numeric_dtype(values)
            or (values.dtype == object and _parses_as_numbers(values))
        ):
            numeric.append(column)
        else:
            categorical.append(column)
    return Columns(tuple(frame.columns), tuple(numeric), tuple(categorical))


def _parses_as_numbers(values: pd.Series) -> bool:
    present = values.dropna()
    if any(isinstance(v, str | bytes | bool) for v in present):
        return False
    try:
        pd.to_numeric(present)
    except (TypeError, ValueError):
        return False
    return True


def normalize(frame: pd.DataFrame, columns: Columns, name: str = "X") -> pd.DataFrame:
    """Numbers as float64 (missing or unparsable as NaN), categories as str (missing as NaN).

    Raises:
        DataError: when the columns differ from those seen in ``fit``.

    Example:
        >>> import pandas as pd
        >>> cols = Columns(("a", "b"), ("a",), ("b",))
        >>> normalize(pd.DataFrame({"a": [1, None], "b": ["u", None]}), cols)["b"].tolist()
        ['u', nan]
    """
    missing = [c for c in columns.names if c not in frame.columns]
    if missing:
        raise DataError(
            f"`{name}` lacks the columns {missing} seen in fit; pass the same columns as in fit"
        )
    out = {column: as_numbers(frame[column]) for column in columns.numeric}
    out |= {column: as_text(frame[column]) for column in columns.categorical}
    return pd.DataFrame(out, columns=list(columns.names))


def check_target(y: Any, n_rows: int, *, classification: bool) -> np.ndarray:
    """``y`` as a 1-d array after the checks shared by both tasks.

    Raises:
        DataError: for a length other than ``n_rows``, missing values, or (classification)
            fewer than two classes or a continuous target.

    Example:
        >>> check_target([0, 1, 1], 3, classification=True).tolist()
        [0, 1, 1]
    """
    if y is None:
        raise DataError(
            "this estimator requires y to be passed, but the target y is None: pass fit(X, y)"
        )
    array = np.asarray(y.to_numpy() if isinstance(y, pd.Series | pd.DataFrame) else y)
    if array.ndim == 2 and array.shape[1] == 1:
        from sklearn.utils import column_or_1d

        array = column_or_1d(array, warn=True)
    if array.ndim != 1:
        raise DataError(f"`y` must be one-dimensional, got shape {array.shape}")
    if len(array) != n_rows:
        raise DataError(
            f"`X` and `y` must have the same number of rows, got {n_rows} and {len(array)}"
        )
    _no_missing(array, "y", "drop those rows before fit")
    if classification:
        check_classification_targets(array)
        if len(np.unique(array)) < 2:
            raise DataError(
                f"`y` must have at least 2 classes to train a classifier, got 1 class "
                f"({np.unique(array)[0]!r})"
            )
        return array
    if type_of_target(array) not in ("continuous", "binary", "multiclass"):
        raise DataError(
            f"Unknown label type: `y` must be numbers for regression, got {type_of_target(array)}"
        )
    values = array.astype(np.float64)
    if not np.isfinite(values).all():
        raise DataError("`y` must be finite for regression, got infinity")
    return values


def check_groups(groups: Any, n_rows: int) -> np.ndarray | None:
    """``groups`` as a 1-d array of ``n_rows`` labels, or ``None``.

    Raises:
        DataError: for another length or missing labels.

    Example:
        >>> check_groups(["a", "a", "b"], 3).tolist()
        ['a', 'a', 'b']
    """
    if groups is None:
        return None
    array = np.asarray(groups.to_numpy() if isinstance(groups, pd.Series) else groups)
    if array.ndim != 1 or len(array) != n_rows:
        raise DataError(
            f"`groups` must hold one label per row of X ({n_rows}), got shape {array.shape}"
        )
    _no_missing(array, "groups", "give every row a group")
    return array


def _no_missing(array: np.ndarray, name: str, fix: str) -> None:
    if pd.isna(array).any():
        raise DataError(
            f"`{name}` must not contain missing values, got {int(pd.isna(array).sum())}; {fix}"
        )
