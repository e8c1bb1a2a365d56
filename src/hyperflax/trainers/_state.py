"""Pickle-free state files: pytrees as named NumPy arrays in ``.npz``, written atomically."""

from __future__ import annotations

import os
import tempfile
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx


def _key_name(entry: Any) -> str:
    for attribute in ("key", "name", "idx"):
        if hasattr(entry, attribute):
            return str(getattr(entry, attribute))
    return str(entry)


def _is_prng_key(leaf: Any) -> bool:
    return hasattr(leaf, "dtype") and jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key)


def tree_to_arrays(tree: Any, prefix: str) -> dict[str, np.ndarray]:
    """Flattens ``tree`` into ``{"prefix/path/to/leaf": host array}`` (PRNG keys as key data).

    Example:
        >>> import numpy as np
        >>> list(tree_to_arrays({"w": np.zeros(2)}, "model"))
        ['model/w']
    """
    arrays = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        name = "/".join([prefix, *(_key_name(entry) for entry in path)])
        arrays[name] = np.asarray(jax.random.key_data(leaf) if _is_prng_key(leaf) else leaf)
    return arrays


def arrays_to_tree(template: Any, arrays: dict[str, np.ndarray], prefix: str) -> Any:
    """Rebuilds a pytree shaped like ``template`` from ``arrays`` written by ``tree_to_arrays``.

    Raises:
        ValueError: when names, shapes or dtypes differ from ``template``'s, naming them.

    Example:
        >>> import numpy as np
        >>> arrays_to_tree({"w": np.zeros(2)}, {"m/w": np.ones(2)}, "m")["w"].tolist()
        [1.0, 1.0]
    """
    expected = tree_to_arrays(template, prefix)
    stored = {name: value for name, value in arrays.items() if name.startswith(prefix + "/")}
    missing, unexpected = sorted(expected.keys() - stored), sorted(stored.keys() - expected)
    mismatched = [
        f"{name}: expected {want.shape} {want.dtype}, got {stored[name].shape} {stored[name].dtype}"
        for name, want in expected.items()
        if name in stored and (want.shape, want.dtype) != (stored[name].shape, stored[name].dtype)
    ]
    if missing or unexpected or mismatched:
        raise ValueError(
            f"the saved {prefix} state does not match the structure it is loaded into "
            f"(a different architecture or optimizer?): missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}, mismatched {mismatched[:5]}"
        )
    leaves, treedef = jax.tree_util.tree_flatten(template)
    restored = [
        jax.random.wrap_key_data(jnp.asarray(stored[name]), impl=jax.random.key_impl(leaf))
        if _is_prng_key(leaf)
        else jax.numpy.asarray(stored[name])
        for name, leaf in zip(expected, leaves, strict=True)
    ]
    return jax.tree_util.tree_unflatten(treedef, restored)


def model_arrays(model: nnx.Module) -> dict[str, np.ndarray]:
    """Host copies of every variable of ``model`` (parameters, batch stats, masks, RNG state).

    Example:
        >>> from flax import nnx
        >>> sorted(model_arrays(nnx.Linear(2, 3, rngs=nnx.Rngs(0))))
        ['model/bias/value', 'model/kernel/value']
    """
    return tree_to_arrays(nnx.state(model), "model")


def assign_model_arrays(model: nnx.Module, arrays: dict[str, np.ndarray]) -> None:
    """Writes arrays from ``model_arrays`` back into a model of the same structure.

    Example:
        >>> from flax import nnx
        >>> a, b = nnx.Linear(2, 3, rngs=nnx.Rngs(0)), nnx.Linear(2, 3, rngs=nnx.Rngs(1))
        >>> assign_model_arrays(b, model_arrays(a))
        >>> bool((a.kernel[...] == b.kernel[...]).all())
        True
    """
    nnx.update(model, arrays_to_tree(nnx.state(model), arrays, "model"))


def write_npz(path: str | os.PathLike[str], arrays: dict[str, np.ndarray]) -> None:
    """Writes ``arrays`` to ``path`` atomically: a temporary file, then ``os.replace``.

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
            np.savez(file, **arrays)  # type: ignore[arg-type]  # numpy's stub types kwds as bool
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def read_npz(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Reads every array of an ``.npz`` file without unpickling anything.

    Example:
        >>> read_npz("weights.npz")  # doctest: +SKIP
    """
    with np.load(os.fspath(path), allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


def save_weights(model: nnx.Module, path: str | os.PathLike[str]) -> None:
    """Saves the whole state of ``model`` (not only parameters) to an ``.npz`` file.

    Example:
        >>> from flax import nnx
        >>> save_weights(nnx.Linear(2, 3, rngs=nnx.Rngs(0)), "linear.npz")  # doctest: +SKIP
    """
    write_npz(path, model_arrays(model))


def load_weights(model: nnx.Module, path: str | os.PathLike[str]) -> None:
    """Loads a ``save_weights`` file into ``model``, which must have the same structure.

    Raises:
        ValueError: when the file's variables differ from ``model``'s.

    Example:
        >>> from flax import nnx
        >>> load_weights(nnx.Linear(2, 3, rngs=nnx.Rngs(1)), "linear.npz")  # doctest: +SKIP
    """
    assign_model_arrays(model, read_npz(path))
