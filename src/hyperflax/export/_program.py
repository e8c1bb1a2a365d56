"""Lowering a Flax NNX module to a serialized ``jax.export`` program with weights as arguments."""

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np

from hyperflax._npz import is_prng_key
from hyperflax.export._manifest import TensorSpec

PLATFORMS = ("cpu", "cuda")


@dataclasses.dataclass(frozen=True)
class ExportedProgram:
    """A serialized inference program and the arrays to pass it, in argument order.

    The program is called as ``program(weights, x)``; ``x`` has a symbolic batch dimension.
    """

    serialized: bytes
    weights: list[np.ndarray]
    weight_names: list[str]
    input_spec: TensorSpec
    output_spec: TensorSpec


def _name(path: jax.tree_util.KeyPath) -> str:
    return jax.tree_util.keystr(path, simple=True, separator="/").removesuffix("/value")


def split_module(
    model: Any,
) -> tuple[list[np.ndarray], list[str], Callable[[Sequence[jax.Array], jax.Array], jax.Array]]:
    """A Flax NNX module as weights and a pure function ``apply(weights, x)`` in eval mode.

    Every array of the module's state is a weight, except PRNG keys (unused in eval mode, and
    not storable in ``.npz``), which ``apply`` embeds as constants. The caller's module is not
    modified: eval mode is set on a copy inside ``apply``.

    Args:
        model: A Flax NNX module called as ``model(x)``.

    Returns:
        The weights (NumPy), their names (state paths) and ``apply``.

    Raises:
        TypeError: If ``model`` is not an ``nnx.Module``.

    Example:
        >>> from flax import nnx
        >>> weights, names, apply = split_module(nnx.Linear(2, 1, rngs=nnx.Rngs(0)))
        >>> names, apply(weights, np.ones((3, 2), np.float32)).shape
        (['bias', 'kernel'], (3, 1))
    """
    from flax import nnx

    if not isinstance(model, nnx.Module):
        raise TypeError(f"model must be a flax.nnx.Module, got {type(model).__name__}")
    graphdef, state = nnx.split(model)
    leaves_with_paths, treedef = jax.tree_util.tree_flatten_with_path(state)
    is_key = [is_prng_key(leaf) for _, leaf in leaves_with_paths]
    keys = [leaf for (_, leaf), key in zip(leaves_with_paths, is_key, strict=True) if key]
    weighted = [
        (p, leaf) for (p, leaf), key in zip(leaves_with_paths, is_key, strict=True) if not key
    ]

    def apply(weights: Sequence[jax.Array], x: jax.Array) -> jax.Array:
        weight_iter, key_iter = iter(weights), iter(keys)
        leaves = [next(key_iter) if key else next(weight_iter) for key in is_key]
        module = nnx.merge(graphdef, jax.tree.unflatten(treedef, leaves))
        module.eval()
        return module(x)

    return (
        [np.asarray(leaf) for _, leaf in weighted],
        [_name(path) for path, _ in weighted],
        apply,
    )


def lower(
    forward: Callable[[Any, jax.Array], jax.Array],
    weights: Sequence[np.ndarray],
    weight_names: Sequence[str],
    example_input: np.ndarray,
) -> ExportedProgram:
    """Lower ``forward(weights, x)`` for :data:`PLATFORMS` with a symbolic batch dimension.

    Args:
        forward: A pure function of the weights (a list, in order) and a batch ``x``,
            returning one array of shape ``(batch, *features)``.
        weights: The arrays passed as the program's first argument.
        weight_names: A name per weight (recorded in the manifest).
        example_input: An array of shape ``(batch, *features)`` fixing feature shape and dtype.

    Returns:
        The serialized program, its weights and its input and output specs.

    Raises:
        TypeError: If ``forward`` does not return a single array.
        ValueError: If it cannot be called on ``example_input`` with any batch size.

    Example:
        >>> program = lower(lambda w, x: x @ w[0], [np.ones((2, 1), np.float32)], ["w"],
        ...                 np.ones((4, 2), np.float32))
        >>> program.output_spec.shape
        (None, 1)
    """
    (batch,) = jax.export.symbolic_shape("batch")
    input_dtype = np.dtype(jax.dtypes.canonicalize_dtype(example_input.dtype))
    x_spec = jax.ShapeDtypeStruct((batch, *example_input.shape[1:]), input_dtype)
    weight_specs = [jax.ShapeDtypeStruct(w.shape, w.dtype) for w in weights]
    try:
        exported = jax.export.export(jax.jit(forward), platforms=PLATFORMS)(weight_specs, x_spec)
    except Exception as e:
        raise ValueError(
            f"cannot export the model for inputs of shape (batch, *{example_input.shape[1:]}) "
            f"and dtype {input_dtype} (example_input has shape {example_input.shape}): {e}"
        ) from e
    if not jax.tree_util.treedef_is_leaf(exported.out_tree):
        raise TypeError(f"model must return a single array, got a pytree {exported.out_tree}")
    out = exported.out_avals[0]
    if (
        not out.shape
        or not out.shape[0] == batch
        or any(map(jax.export.is_symbolic_dim, out.shape[1:]))
    ):
        raise ValueError(f"model output must have shape (batch, *features), got {out.shape}")
    return ExportedProgram(
        serialized=bytes(exported.serialize()),
        weights=[np.asarray(w) for w in weights],
        weight_names=list(weight_names),
        input_spec=TensorSpec(input_dtype, (None, *example_input.shape[1:])),
        output_spec=TensorSpec(np.dtype(out.dtype), (None, *out.shape[1:])),
    )


def lower_model(model: Any, example_input: np.ndarray) -> ExportedProgram:
    """Lower ``model(x)`` in eval mode for :data:`PLATFORMS` with a symbolic batch dimension.

    The module's arrays become program arguments (see :func:`split_module`).

    Args:
        model: A Flax NNX module called as ``model(x)`` and returning one array.
        example_input: An array of shape ``(batch, *features)`` fixing feature shape and dtype.

    Returns:
        The serialized program, its weights and its input and output specs.

    Raises:
        TypeError: If ``model`` is not an ``nnx.Module`` or does not return a single array.
        ValueError: If the model cannot be called on ``example_input`` with any batch size.
    """
    weights, names, apply = split_module(model)
    return lower(apply, weights, names, example_input)
