"""Input checks run before anything compiles, with errors that name the argument and value."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import jax
import numpy as np
from flax import nnx

from hyperflax._errors import DataError
from hyperflax.trainers._labels import is_column, is_one_hot, is_whole

Data = np.ndarray | dict[str, np.ndarray]


def as_host_arrays(data: Any, name: str) -> Data:
    """Converts an array or a dict of arrays to NumPy, narrowing 64-bit types to 32 bits.

    Example:
        >>> as_host_arrays([[1.0, 2.0]], "x").dtype
        dtype('float32')
    """
    if isinstance(data, dict):
        return {key: _as_array(value, f"{name}[{key!r}]") for key, value in data.items()}
    return _as_array(data, name)


def _as_array(value: Any, name: str) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype == np.float64:
        return array.astype(np.float32)
    if array.dtype == np.int64:
        return array.astype(np.int32)
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise DataError(
            f"`{name}` must hold numbers, got dtype {array.dtype}"
            + (
                "; encode text labels as integers (sklearn.preprocessing.LabelEncoder), or use "
                "hx.automl.TabularClassifier, which takes them as they are"
                if name.endswith("y") or name.endswith("[1]")
                else ""
            )
        )
    return array


def num_samples(data: Data, name: str) -> int:
    """The number of samples (leading dimension) in ``data``, checked to be consistent.

    Example:
        >>> import numpy as np
        >>> num_samples({"a": np.zeros((3, 2)), "b": np.zeros(3)}, "x")
        3
    """
    lengths = {key: len(value) for key, value in _items(data, name)}
    if len(set(lengths.values())) > 1:
        raise DataError(f"the arrays of `{name}` must have the same length, got {lengths}")
    if not lengths or min(lengths.values()) == 0:
        raise DataError(f"`{name}` must not be empty, got {lengths or 'an empty dict'}")
    return next(iter(lengths.values()))


def _items(data: Data, name: str) -> list[tuple[str, np.ndarray]]:
    if isinstance(data, dict):
        return [(f"{name}[{key!r}]", value) for key, value in data.items()]
    if data.ndim == 0:
        raise DataError(f"`{name}` must have a leading sample axis, got a scalar")
    return [(name, data)]


def check_finite(data: Data, name: str) -> None:
    """Raises ``DataError`` (a ``ValueError``) when ``data`` holds NaN or infinity, naming where.

    Example:
        >>> import numpy as np
        >>> check_finite(np.array([1.0, np.nan]), "x")  # doctest: +NORMALIZE_WHITESPACE
        Traceback (most recent call last):
        ...
        hyperflax._errors.DataError: `x` must be finite, got 1 NaN/inf value(s),
        first at index (1,)
    """
    for label, array in _items(data, name):
        if np.issubdtype(array.dtype, np.floating):
            bad = ~np.isfinite(array)
            if bad.any():
                first = tuple(int(i) for i in np.argwhere(bad)[0])
                raise DataError(
                    f"`{label}` must be finite, got {int(bad.sum())} NaN/inf value(s), "
                    f"first at index {first}"
                )


def check_pair(x: Data, y: Data | None, prefix: str = "") -> int:
    """Checks one ``(x, y)`` pair (non-empty, same length, finite); returns its length.

    Example:
        >>> import numpy as np
        >>> check_pair(np.zeros((4, 2)), np.zeros(3))  # doctest: +NORMALIZE_WHITESPACE
        Traceback (most recent call last):
        ...
        hyperflax._errors.DataError: `x` and `y` must have the same number of samples,
        got 4 and 3
    """
    xname, yname = f"{prefix}x", f"{prefix}y"
    n = num_samples(x, xname)
    check_finite(x, xname)
    if y is not None:
        n_y = num_samples(y, yname)
        if n_y != n:
            raise DataError(
                f"`{xname}` and `{yname}` must have the same number of samples, got {n} and {n_y}"
            )
        check_finite(y, yname)
    return n


def check_batch_size(batch_size: int, n: int, n_devices: int, *, training: bool) -> None:
    """Checks ``batch_size`` against the data size (training) and the device count.

    Example:
        >>> check_batch_size(10, 100, 4, training=True)  # doctest: +NORMALIZE_WHITESPACE
        Traceback (most recent call last):
        ...
        hyperflax._errors.DataError: `batch_size` must be divisible by the device count 4,
        got 10
    """
    if not isinstance(batch_size, int | np.integer) or batch_size <= 0:
        raise DataError(f"`batch_size` must be a positive int, got {batch_size!r}")
    if training and batch_size > n:
        raise DataError(
            f"`batch_size` must be <= the number of training samples {n}, got {batch_size}"
        )
    if batch_size % n_devices:
        raise DataError(
            f"`batch_size` must be divisible by the device count {n_devices}, got {batch_size}"
        )


def split_validation(x: Any, y: Any, fraction: float) -> tuple[Data, Data, tuple[Data, Data]]:
    """Holds out the last ``fraction`` of the samples for validation (like Keras).

    Example:
        >>> import numpy as np
        >>> x, y, (x_val, y_val) = split_validation(np.arange(10.0), np.arange(10), 0.2)
        >>> len(x), y_val.tolist()
        (8, [8, 9])
    """
    if not 0 < fraction < 1:
        raise ValueError(f"`validation_split` must be in (0, 1), got {fraction!r}")
    x, y = as_host_arrays(x, "x"), as_host_arrays(y, "y")
    n = num_samples(x, "x")
    n_train = n - max(1, round(n * fraction))
    if n_train < 1:
        raise ValueError(f"`validation_split`={fraction} leaves no training data")
    head, tail = slice(None, n_train), slice(n_train, None)
    return take_rows(x, head), take_rows(y, head), (take_rows(x, tail), take_rows(y, tail))


def take_rows(data: Data, rows: slice | np.ndarray) -> Data:
    """Selects samples from an array or from every array of a dict.

    Example:
        >>> import numpy as np
        >>> take_rows(np.arange(5), slice(3, None)).tolist()
        [3, 4]
    """
    if isinstance(data, dict):
        return {key: value[rows] for key, value in data.items()}
    return data[rows]


_OUTPUT_SHAPES: dict[Hashable, tuple[int, ...]] = {}


def output_shape(graphdef: nnx.GraphDef[Any], state: tuple[Any, Any], x: Data) -> tuple[int, ...]:
    """The model's output shape for one sample, traced abstractly (nothing compiles).

    Traced once per architecture and shapes: a trace costs about as much as a few training
    epochs of a small model, and every ``fit`` of a search checks its data.

    Raises:
        ValueError: when the model cannot take ``x``'s feature shape.
    """
    sample = take_rows(x, slice(0, 1))
    leaves, treedef = jax.tree_util.tree_flatten((state, sample))
    key = (graphdef, treedef, tuple((np.shape(a), str(a.dtype)) for a in leaves))
    if key not in _OUTPUT_SHAPES:
        if len(_OUTPUT_SHAPES) >= 256:
            _OUTPUT_SHAPES.clear()
        _OUTPUT_SHAPES[key] = _trace_output_shape(graphdef, state, sample)
    return _OUTPUT_SHAPES[key]


def _trace_output_shape(
    graphdef: nnx.GraphDef[Any], state: tuple[Any, Any], sample: Data
) -> tuple[int, ...]:
    def forward(state: tuple[Any, Any], inputs: Data) -> jax.Array:
        model = nnx.merge(graphdef, *state)
        return model(**inputs) if isinstance(inputs, dict) else model(inputs)

    try:
        out = jax.eval_shape(forward, state, sample)
    except (TypeError, ValueError) as error:
        shapes = jax.tree.map(lambda a: a.shape[1:], sample)
        raise DataError(
            f"`x` has per-sample feature shape {shapes}, which the model cannot take: {error}"
        ) from error
    return tuple(out.shape)


def label_fix(y: np.ndarray, name: str = "y") -> str:
    """How to turn the labels a user has into the class ids ``cross_entropy`` needs.

    Example:
        >>> import numpy as np
        >>> label_fix(np.eye(3)[[0, 2]])
        '; these look one-hot: pass y.argmax(axis=1)'
    """
    if is_column(y):
        return f"; pass {name}.ravel() (a column of labels)"
    if is_one_hot(y):
        return f"; these look one-hot: pass {name}.argmax(axis=1)"
    if y.ndim == 1 and y.dtype == np.bool_:
        return f"; pass {name}.astype(int) (False -> 0, True -> 1)"
    if y.ndim == 1 and np.issubdtype(y.dtype, np.floating):
        if is_whole(y):
            return f"; these floats are whole numbers: pass {name}.astype(int)"
        return "; these look like a regression target: use loss='mse' (or 'mae', 'huber')"
    return ""


def check_class_labels(y: Data, n_classes: int, name: str = "y") -> None:
    """Checks integer labels in ``[0, n_classes)`` for ``cross_entropy``.

    Example:
        >>> import numpy as np
        >>> check_class_labels(np.array([0, 3]), 3)  # doctest: +NORMALIZE_WHITESPACE
        Traceback (most recent call last):
        ...
        hyperflax._errors.DataError: `y` labels must be in [0, 3)
        (the model has 3 outputs), got values in [0, 3]
    """
    if isinstance(y, dict) or not np.issubdtype(y.dtype, np.integer) or y.ndim != 1:
        shape_dtype = "a dict" if isinstance(y, dict) else f"shape {y.shape} dtype {y.dtype}"
        raise DataError(
            f"`{name}` must be a 1-D integer label array for 'cross_entropy', got {shape_dtype}"
            f"{'' if isinstance(y, dict) else label_fix(y, name)}"
        )
    low, high = int(y.min()), int(y.max())
    if low < 0 or high >= n_classes:
        raise DataError(
            f"`{name}` labels must be in [0, {n_classes}) (the model has {n_classes} outputs), "
            f"got values in [{low}, {high}]"
        )
