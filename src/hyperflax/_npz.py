"""Pickle-free ``.npz`` files of named arrays: the one reader and writer of hyperflax.

Trainer checkpoints (``hyperflax.trainers``) and exported weights (``hyperflax.export``) are both
written and read here: atomically, never pickling on write or unpickling on read, with extension
dtypes (bfloat16, float8, ...) stored as same-width unsigned integers that
:func:`as_dtype` turns back. Neither package imports the other, so this is a leaf module.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np


def is_prng_key(leaf: Any) -> bool:
    """Whether ``leaf`` is an array of typed JAX PRNG keys, which ``.npz`` cannot hold as such.

    Example:
        >>> import jax, numpy as np
        >>> is_prng_key(jax.random.key(0)), is_prng_key(np.zeros(2))
        (True, False)
    """
    return hasattr(leaf, "dtype") and jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key)


def _storable(array: np.ndarray) -> np.ndarray:
    """View extension dtypes (bfloat16, float8, ...) as same-width unsigned ints."""
    if array.dtype.kind == "V":
        return array.view(np.dtype(f"uint{8 * array.dtype.itemsize}"))
    return array


def as_dtype(array: np.ndarray, dtype: Any) -> np.ndarray:
    """``array`` read from an ``.npz``, viewed as the extension ``dtype`` it was written as.

    Any other array is returned unchanged, so a caller compares its dtype with the one it expects.

    Example:
        >>> import ml_dtypes, numpy as np
        >>> stored = np.zeros(2, np.uint16)
        >>> as_dtype(stored, ml_dtypes.bfloat16).dtype, as_dtype(stored, np.float32).dtype
        (dtype(bfloat16), dtype('uint16'))
    """
    dtype = np.dtype(dtype)
    if dtype.kind == "V" and array.dtype == _storable(np.zeros(0, dtype)).dtype:
        return array.view(dtype)
    return array


def write_npz(path: str | os.PathLike[str], arrays: Mapping[str, Any]) -> None:
    """Writes named arrays to an uncompressed ``.npz`` atomically (a temporary file, then rename).

    Raises:
        ValueError: when an array holds Python objects, which only pickle could store.

    Example:
        >>> import numpy as np
        >>> write_npz("weights.npz", {"w": np.zeros(2)})  # doctest: +SKIP
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=directory, suffix=".npz.tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            storable = {name: _storable(np.asarray(value)) for name, value in arrays.items()}
            np.savez(file, allow_pickle=False, **storable)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def read_npz(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Reads every array of an ``.npz`` with ``allow_pickle=False``, so nothing is unpickled.

    Raises:
        OSError, ValueError, EOFError, zipfile.BadZipFile: when the file is missing, truncated,
            not an ``.npz`` or holds pickled objects.

    Example:
        >>> read_npz("weights.npz")  # doctest: +SKIP
    """
    with np.load(os.fspath(path), allow_pickle=False) as data:
        return {name: data[name] for name in data.files}
