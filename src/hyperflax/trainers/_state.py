"""Pickle-free state files: pytrees as named NumPy arrays in ``.npz`` (see ``hyperflax._npz``)."""

from __future__ import annotations

import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from hyperflax._npz import as_dtype, is_prng_key, read_npz, write_npz


def _key_name(entry: Any) -> str:
    for attribute in ("key", "name", "idx"):
        if hasattr(entry, attribute):
            return str(getattr(entry, attribute))
    return str(entry)


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
        arrays[name] = np.asarray(jax.random.key_data(leaf) if is_prng_key(leaf) else leaf)
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
    stored = {
        name: as_dtype(value, expected[name].dtype) if name in expected else value
        for name, value in arrays.items()
        if name.startswith(prefix + "/")
    }
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
        if is_prng_key(leaf)
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
