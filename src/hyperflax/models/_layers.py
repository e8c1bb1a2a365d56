"""Layers whose hyperparameters are data: width masks and a dropout rate held in state.

Holding these values in non-``Param`` variables keeps them out of both the optimizer (which
updates ``nnx.Param`` only) and the graph definition, so models that differ only in width,
depth or dropout rate share one compiled training program.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx


class Mask(nnx.Variable):
    """A non-trainable 0/1 mask selecting the active units (or layers) of a model.

    Example:
        >>> import jax.numpy as jnp
        >>> Mask(jnp.array([1.0, 1.0, 0.0]))[...].sum()
        Array(2., dtype=float32)
    """


class DropoutRate(nnx.Variable):
    """A non-trainable dropout rate, stored as data so changing it never recompiles.

    Example:
        >>> import jax.numpy as jnp
        >>> float(DropoutRate(jnp.asarray(0.25))[...])
        0.25
    """


class Dropout(nnx.Module):
    """Inverted dropout whose rate is a ``DropoutRate`` variable, not a static float.

    Follows ``nnx`` train/eval mode through the ``deterministic`` attribute (``model.train()``
    sets it to ``False``, ``model.eval()`` to ``True``).

    Args:
        rate: Probability of dropping a unit, in ``[0, 1)``.
        rngs: Random streams; the ``dropout`` stream (or the default) is forked.

    Example:
        >>> from flax import nnx
        >>> import jax.numpy as jnp
        >>> drop = Dropout(0.5, rngs=nnx.Rngs(0))
        >>> drop.eval()
        >>> drop(jnp.ones(4)).tolist()
        [1.0, 1.0, 1.0, 1.0]
    """

    def __init__(self, rate: float, *, rngs: nnx.Rngs) -> None:
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1), got {rate!r}")
        self.rate = DropoutRate(jnp.asarray(rate, dtype=jnp.float32))
        self.deterministic = False
        self.rngs = rngs["dropout"].fork()

    def __call__(self, x: jax.Array) -> jax.Array:
        """Drops units with probability ``rate`` in train mode; identity in eval mode."""
        if self.deterministic:
            return x
        rate = self.rate[...]
        keep = jax.random.uniform(self.rngs(), x.shape) >= rate
        return jnp.where(keep, x / (1.0 - rate).astype(x.dtype), jnp.zeros_like(x))


class MaskedLayerNorm(nnx.Module):
    """Layer normalization over the active features only (mean and variance ignore masked ones).

    Args:
        num_features: Capacity width of the normalized axis.
        eps: Added to the variance for numerical stability.

    Example:
        >>> import jax.numpy as jnp
        >>> norm = MaskedLayerNorm(4)
        >>> out = norm(jnp.array([[1.0, 3.0, 5.0, 9.0]]), jnp.array([1.0, 1.0, 0.0, 0.0]))
        >>> out.round(3).tolist()
        [[-1.0, 1.0, 0.0, 0.0]]
    """

    def __init__(self, num_features: int, *, eps: float = 1e-6) -> None:
        self.scale = nnx.Param(jnp.ones((num_features,), jnp.float32))
        self.bias = nnx.Param(jnp.zeros((num_features,), jnp.float32))
        self.eps = eps

    def __call__(self, x: jax.Array, mask: jax.Array) -> jax.Array:
        """Normalizes ``x`` over its last axis, counting only features where ``mask`` is 1."""
        mask = mask.astype(x.dtype)
        count = jnp.maximum(mask.sum(), 1.0)
        mean = (x * mask).sum(-1, keepdims=True) / count
        var = (jnp.square(x - mean) * mask).sum(-1, keepdims=True) / count
        normed = (x - mean) * jax.lax.rsqrt(var + self.eps)
        return (normed * self.scale[...] + self.bias[...]) * mask
