"""An artifact's arrays: one pickle-free ``.npz`` holding the weights and preprocessing arrays.

Written and read by :mod:`hyperflax._npz`, like a trainer's checkpoints.
"""

import zipfile
from pathlib import Path

import jax
import numpy as np

from hyperflax._errors import ArtifactError
from hyperflax._npz import as_dtype, read_npz

WEIGHTS_PREFIX = "weights/"
PREPROCESSING_PREFIX = "preprocessing/"


def weight_key(index: int) -> str:
    """The ``.npz`` key of the ``index``-th program argument."""
    return f"{WEIGHTS_PREFIX}{index:05d}"


def load_arrays(path: Path) -> dict[str, np.ndarray]:
    """Read every array of an ``.npz`` with ``allow_pickle=False``.

    Raises:
        ArtifactError: If the file is missing, truncated or not a pickle-free ``.npz``.
    """
    try:
        return read_npz(path)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise ArtifactError(path, f"cannot read arrays ({e})") from e


def restore(path: Path, name: str, array: np.ndarray, expected: jax.ShapeDtypeStruct) -> np.ndarray:
    """Return a stored array with the dtype and shape the program expects.

    Raises:
        ArtifactError: If the stored dtype or shape does not match the expected one.
    """
    dtype = np.dtype(expected.dtype)
    array = as_dtype(array, dtype)
    if array.dtype != dtype or array.shape != tuple(expected.shape):
        raise ArtifactError(
            path,
            f"array {name!r} is {array.dtype}{list(array.shape)}, expected "
            f"{dtype}{list(expected.shape)}",
        )
    return array
