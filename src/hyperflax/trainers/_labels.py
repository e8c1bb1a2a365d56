"""The labels users have, turned into the class ids a ``cross_entropy`` model trains on.

A search accepts what Keras accepts where the meaning is unambiguous: a ``(n, 1)`` column, a
one-hot matrix, booleans, whole-number floats (``0.0 .. 9.0``) and text labels. Text and
boolean labels are kept, so an exported model's ``predict`` returns them. Anything else is
left to the trainer's checks, which refuse it with the fix.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hyperflax._errors import DataError


def encode_labels(
    y: Any, validation_data: tuple[Any, Any] | None
) -> tuple[Any, tuple[Any, Any] | None, list[Any] | None]:
    """``y`` and the validation labels as class ids, and the label of each id when converted.

    Returns:
        ``(y, validation_data, classes)``; ``classes`` is ``None`` when the ids need no labels
        (integers, one-hot, whole-number floats).

    Raises:
        DataError: when the validation labels hold a label the training labels do not.

    Example:
        >>> ids, _, classes = encode_labels(np.array(["cat", "dog", "cat"]), None)
        >>> ids.tolist(), classes
        ([0, 1, 0], ['cat', 'dog'])
    """
    if isinstance(y, dict):
        return y, validation_data, None
    y = _flatten(np.asarray(y))
    y_val = None if validation_data is None else _flatten(np.asarray(validation_data[1]))
    classes: list[Any] | None = None
    if y.dtype == np.bool_ or y.dtype.kind in "OUS":
        values = np.unique(y)
        classes = values.tolist()
        y = np.searchsorted(values, y).astype(np.int32)
        if y_val is not None:
            unseen = sorted(set(np.unique(y_val).tolist()) - set(classes), key=str)
            if unseen:
                raise DataError(
                    f"validation labels {unseen[:5]} never occur in `y` (labels: {classes[:10]}); "
                    f"give every class some training rows"
                )
            y_val = np.searchsorted(values, y_val).astype(np.int32)
    else:
        y = _whole(y)
        y_val = None if y_val is None else _whole(y_val)
    if validation_data is not None:
        validation_data = (validation_data[0], y_val)
    return y, validation_data, classes


def is_column(y: np.ndarray) -> bool:
    """Whether ``y`` is an ``(n, 1)`` column of labels."""
    return y.ndim == 2 and y.shape[1] == 1


def is_one_hot(y: np.ndarray) -> bool:
    """Whether ``y`` is a one-hot matrix: 0s and 1s, a single 1 per row."""
    return (
        y.ndim == 2
        and y.dtype.kind in "biuf"
        and bool(((y == 0) | (y == 1)).all())
        and bool((y.sum(axis=1) == 1).all())
    )


def is_whole(y: np.ndarray) -> bool:
    """Whether ``y`` holds floats that are all whole, non-negative numbers."""
    return (
        y.dtype.kind == "f"
        and y.size > 0
        and bool(np.isfinite(y).all())
        and bool((y >= 0).all())
        and np.array_equal(y, np.round(y))
    )


def _flatten(y: np.ndarray) -> np.ndarray:
    """A ``(n, 1)`` column raveled; a one-hot matrix turned into its class ids."""
    if is_column(y):
        return y.ravel()
    if is_one_hot(y):
        return y.argmax(axis=1).astype(np.int32)
    return y


def _whole(y: np.ndarray) -> np.ndarray:
    """Whole-number floats as int32 class ids; else ``y``."""
    return y.astype(np.int32) if is_whole(y) else y
