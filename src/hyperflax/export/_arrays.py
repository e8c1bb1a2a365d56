"""Pickle-free array storage: one ``.npz`` holding the weights and the preprocessing arrays."""

import zipfile
from collections.abc import Mapping
from pathlib import Path

import jax
import numpy as np

from hyperflax._errors import ArtifactError

WEIGHTS_PREFIX = "weights/"
PREPROCESSING_PREFIX = "preprocessing/"


def weight_key(index: int) -> str:
    """The ``.npz`` key of the ``index``-th program argument."""
    return f"{WEIGHTS_PREFIX}{index:05d}"


def _storable(array: np.ndarray) -> np.ndarray:
    """View extension dtypes (bfloat16, float8, ...) as same-width unsigned ints for ``.npz``."""
    if array.dtype.kind == "V":
        return array.view(np.dtype(f"uint{8 * array.dtype.itemsize}"))
    return array


def save_arrays(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Write named arrays to an uncompressed ``.npz`` that loads without pickle."""
    np.savez(path, allow_pickle=False, **{k: _storable(np.asarray(v)) for k, v in arrays.items()})


def load_arrays(path: Path) -> dict[str, np.ndarray]:
    """Read every array of an ``.npz`` with ``allow_pickle=False``.

    Raises:
        ArtifactError: If the file is missing, truncated or not a pickle-free ``.npz``.
    """
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise ArtifactError(path, f"cannot read arrays ({e})") from e


def restore(path: Path, name: str, array: np.ndarray, expected: jax.ShapeDtypeStruct) -> np.ndarray:
    """Return a stored array with the dtype and shape the program expects.

    Undoes :func:`_storable`'s view of extension dtypes.

    Raises:
        ArtifactError: If the stored dtype or shape does not match the expected one.
    """
    dtype = np.dtype(expected.dtype)
    if dtype.kind == "V" and array.dtype == _storable(np.zeros(0, dtype)).dtype:
        array = array.view(dtype)
    if array.dtype != dtype or array.shape != tuple(expected.shape):
        raise ArtifactError(
            path,
            f"array {name!r} is {array.dtype}{list(array.shape)}, expected "
            f"{dtype}{list(expected.shape)}",
        )
    return array
