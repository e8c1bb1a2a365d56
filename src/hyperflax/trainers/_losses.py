"""Per-example loss functions, selectable by name."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

LossFn = Callable[[jax.Array, jax.Array], jax.Array]
"""``fn(predictions, targets) -> per-example loss`` of shape ``(batch,)``."""


def _per_example(values: jax.Array) -> jax.Array:
    return values.reshape(values.shape[0], -1).mean(axis=1)


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Softmax cross-entropy of integer ``labels`` against ``logits``.

    Example:
        >>> import jax.numpy as jnp
        >>> cross_entropy(jnp.zeros((1, 2)), jnp.array([0])).round(4)
        Array([0.6931], dtype=float32)
    """
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels.astype(jnp.int32))


def binary_cross_entropy(logits: jax.Array, targets: jax.Array) -> jax.Array:
    """Sigmoid cross-entropy of 0/1 ``targets`` against ``logits``, averaged per example.

    Example:
        >>> import jax.numpy as jnp
        >>> binary_cross_entropy(jnp.zeros((1, 1)), jnp.array([1])).round(4)
        Array([0.6931], dtype=float32)
    """
    logits = logits.reshape(logits.shape[0], -1)
    targets = targets.reshape(logits.shape).astype(logits.dtype)
    return _per_example(optax.sigmoid_binary_cross_entropy(logits, targets))


def mse(predictions: jax.Array, targets: jax.Array) -> jax.Array:
    """Squared error, averaged per example.

    Example:
        >>> import jax.numpy as jnp
        >>> mse(jnp.array([[1.0]]), jnp.array([3.0])).tolist()
        [4.0]
    """
    return _per_example(jnp.square(predictions - targets.reshape(predictions.shape)))


def mae(predictions: jax.Array, targets: jax.Array) -> jax.Array:
    """Absolute error, averaged per example.

    Example:
        >>> import jax.numpy as jnp
        >>> mae(jnp.array([[1.0]]), jnp.array([3.0])).tolist()
        [2.0]
    """
    return _per_example(jnp.abs(predictions - targets.reshape(predictions.shape)))


def huber(predictions: jax.Array, targets: jax.Array) -> jax.Array:
    """Huber loss with ``delta=1``, averaged per example.

    Example:
        >>> import jax.numpy as jnp
        >>> huber(jnp.array([[1.0]]), jnp.array([3.0])).tolist()
        [1.5]
    """
    return _per_example(optax.huber_loss(predictions, targets.reshape(predictions.shape)))


LOSSES: dict[str, LossFn] = {
    "cross_entropy": cross_entropy,
    "binary_cross_entropy": binary_cross_entropy,
    "mse": mse,
    "mae": mae,
    "huber": huber,
}


def resolve_loss(loss: str | LossFn) -> LossFn:
    """Returns the loss function named ``loss``, or ``loss`` itself when it is callable.

    Define custom losses at module level: the function is part of the compiled program's key,
    so a new lambda per trial compiles a new program.

    Example:
        >>> resolve_loss("mse") is mse
        True
    """
    if callable(loss):
        return loss
    if loss not in LOSSES:
        raise ValueError(f"`loss` must be a callable or one of {sorted(LOSSES)}, got {loss!r}")
    return LOSSES[loss]
