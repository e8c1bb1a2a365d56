"""A table as a program input: numbers as float32, categories as codes of a JSON vocabulary.

An artifact exported from an AutoML estimator takes one float32 matrix with a column per
input column. A numeric column holds its numbers (NaN for missing or unparsable values); a
categorical column holds the code of its text in the column's vocabulary: ``0 .. V - 1`` for
the ``V`` categories seen in training, ``V`` for a missing value and ``V + 1`` for a category
never seen. The mapping happens here, in NumPy and pandas, before the program runs; a client
in another language (Node.js, a browser) does the same with the vocabulary in
``hyperflax.json``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd


def as_numbers(values: pd.Series) -> np.ndarray:
    """Numbers at float32 precision, as float64: booleans as 0/1, missing or unparsable as NaN.

    Like XGBoost, AutoML keeps numbers at float32 precision (about 7 significant digits): the
    exported program computes in float32, and a fitted model and its export must see the same
    numbers (a value on a tree threshold or a repeated quantile would otherwise round across).
    Magnitudes beyond float32's range become its largest value.

    Example:
        >>> as_numbers(pd.Series([None, "2.5", "x", 0.1], dtype=object)).tolist()[:3]
        [nan, 2.5, nan]
    """
    if pd.api.types.is_bool_dtype(values):
        values = values.astype("float64")
    numbers = pd.to_numeric(values, errors="coerce").astype("float64").to_numpy()
    biggest = float(np.finfo(np.float32).max)  # beyond it, the largest float32
    return np.clip(numbers, -biggest, biggest).astype(np.float32).astype(np.float64)


def as_text(values: pd.Series) -> np.ndarray:
    """Categories as ``str`` in an object array, missing values as NaN.

    Example:
        >>> as_text(pd.Series([1, None, "a"], dtype=object)).tolist()
        ['1', nan, 'a']
    """
    values = values.astype(object)
    present = values.notna().to_numpy()
    text = np.full(len(values), np.nan, dtype=object)
    text[present] = [str(v) for v in values[present]]
    return text


def table_frame(rows: Any, names: Sequence[str]) -> pd.DataFrame:
    """``rows`` as a DataFrame with the columns ``names``.

    A DataFrame or a mapping of columns is matched by name (extra columns are ignored); an
    array or a list of rows by position.

    Raises:
        ValueError: When a named column is missing or the number of columns differs.

    Example:
        >>> table_frame([[1, "a"]], ["x", "c"]).columns.tolist()
        ['x', 'c']
    """
    if isinstance(rows, pd.Series):  # one row, labelled by column
        rows = rows.to_frame().T
    if isinstance(rows, Mapping) and not isinstance(rows, pd.DataFrame):
        rows = pd.DataFrame(
            {k: np.atleast_1d(np.asarray(v, dtype=object)) for k, v in rows.items()}
        )
    if isinstance(rows, pd.DataFrame):
        frame = rows.rename(columns=str)
        if frame.columns.duplicated().any():
            raise ValueError(f"the input's column names must be unique, got {list(frame.columns)}")
        missing = [c for c in names if c not in frame.columns]
        if missing:
            raise ValueError(
                f"the input lacks the columns {missing}; expected the columns {list(names)}"
            )
        return frame[list(names)].reset_index(drop=True)
    array = np.asarray(rows, dtype=object)
    if array.ndim == 1 and len(names) > 0:
        array = array.reshape(1, -1) if len(array) == len(names) else array
    if array.ndim != 2 or array.shape[1] != len(names):
        raise ValueError(
            f"expected rows of {len(names)} columns {list(names)}, got an input of shape "
            f"{array.shape}; pass a DataFrame with those columns or a 2-d array in that order"
        )
    return pd.DataFrame(array, columns=list(names))


def vocabulary_codes(text: np.ndarray, vocabulary: Sequence[str]) -> np.ndarray:
    """Codes of ``text`` (from :func:`as_text`): positions in ``vocabulary``, V missing, V+1 new.

    Example:
        >>> vocabulary_codes(np.array(["b", np.nan, "z"], dtype=object), ["a", "b"]).tolist()
        [1, 2, 3]
    """
    index = {v: i for i, v in enumerate(vocabulary)}
    n = len(vocabulary)
    return np.array(
        [n if not isinstance(v, str) else index.get(v, n + 1) for v in text], dtype=np.int64
    )


def encode_table(rows: Any, columns: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """The program input of ``rows``: one float32 column per entry of ``columns``.

    Args:
        rows: A DataFrame, a mapping of columns, or a 2-d array / list of rows.
        columns: ``{"name": ..., "kind": "numeric"}`` or ``{"name": ..., "kind":
            "categorical", "vocabulary": [...]}`` per column, in the program's order.

    Raises:
        ValueError: When columns are missing or the shape does not match.

    Example:
        >>> cols = [{"name": "x", "kind": "numeric"},
        ...         {"name": "c", "kind": "categorical", "vocabulary": ["a", "b"]}]
        >>> encode_table(pd.DataFrame({"x": [1.5, None], "c": ["b", "q"]}), cols).tolist()
        [[1.5, 1.0], [nan, 3.0]]
    """
    frame = table_frame(rows, [c["name"] for c in columns])
    out = np.empty((len(frame), len(columns)), np.float32)
    for j, column in enumerate(columns):
        values = frame.iloc[:, j]
        if column["kind"] == "numeric":
            out[:, j] = as_numbers(values)
        else:
            out[:, j] = vocabulary_codes(as_text(values), column["vocabulary"])
    return out
