"""Networks for tables: a RealMLP-style net and a TabM-style parameter-efficient ensemble.

Both keep width and depth as data (masks over a capacity, like :class:`MLP`), so every
candidate of one family in a search shares one compiled training program.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from hyperflax.models._layers import Dropout, Mask
from hyperflax.models._mlp import _ACTIVATIONS, MLP, _host_rng, _next_power_of_two


def smooth_clip(x: jax.Array, bound: float = 3.0) -> jax.Array:
    """RealMLP's smooth clipping ``x / sqrt(1 + (x / bound)^2)``: identity near 0, below ``bound``.

    Example:
        >>> import jax.numpy as jnp
        >>> smooth_clip(jnp.array([0.0, 100.0])).round(2).tolist()
        [0.0, 3.0]
    """
    return x / jnp.sqrt(1.0 + jnp.square(x / bound))


def _param(array: np.ndarray) -> nnx.Param:
    return nnx.Param(jnp.asarray(array.astype(np.float32)))


class PeriodicEmbedding(nnx.Module):
    """PLR numerical embeddings: periodic features of each number, then a per-feature linear+ReLU.

    Feature ``j`` becomes ``relu(W_j [cos(2 pi c_j x_j), sin(2 pi c_j x_j)] + b_j)`` with trainable
    frequencies ``c_j`` initialized from ``N(0, frequency_scale^2)``.

    Args:
        n_features: Number of numerical features.
        n_frequencies: Frequencies per feature.
        d_embedding: Output size per feature.
        frequency_scale: Standard deviation of the initial frequencies.
        rngs: Random streams for initialization.

    Example:
        >>> from flax import nnx
        >>> import jax.numpy as jnp
        >>> PeriodicEmbedding(3, 4, 2, rngs=nnx.Rngs(0))(jnp.ones((5, 3))).shape
        (5, 6)
    """

    def __init__(
        self,
        n_features: int,
        n_frequencies: int = 16,
        d_embedding: int = 4,
        frequency_scale: float = 0.1,
        *,
        rngs: nnx.Rngs,
    ) -> None:
        rng = _host_rng(rngs)
        self.frequencies = _param(rng.normal(0.0, frequency_scale, (n_features, n_frequencies)))
        std = 1.0 / math.sqrt(2 * n_frequencies)
        self.kernel = _param(rng.uniform(-std, std, (n_features, 2 * n_frequencies, d_embedding)))
        self.bias = _param(rng.uniform(-std, std, (n_features, d_embedding)))

    def __call__(self, x: jax.Array) -> jax.Array:
        """Maps ``(batch, n_features)`` to ``(batch, n_features * d_embedding)``."""
        z = 2 * jnp.pi * x[..., None] * self.frequencies[...]
        z = jnp.concatenate([jnp.cos(z), jnp.sin(z)], axis=-1)
        h = jax.nn.relu(jnp.einsum("bnf,nfd->bnd", z, self.kernel[...]) + self.bias[...])
        return h.reshape(x.shape[0], -1)


class RealMLP(nnx.Module):
    """A RealMLP-style net: smooth clipping, a learnable feature scale, PLR embeddings, an MLP.

    Expects robust-scaled inputs whose first ``n_numerical`` columns are numbers to embed. Every
    column also passes through beside the embeddings (as RealMLP's PBLD embeddings keep the
    number), so a feature whose embedding units all die still reaches the MLP. Width, depth
    and dropout are data as in :class:`MLP`. Train it with label smoothing for classification
    (RealMLP's default).

    Args:
        in_features: Number of input columns.
        out_features: Number of outputs.
        hidden: Active width of each hidden layer.
        n_numerical: How many leading columns get periodic embeddings.
        n_frequencies: Frequencies per numerical feature.
        d_embedding: Embedding size per numerical feature.
        frequency_scale: Standard deviation of the initial frequencies.
        activation: Hidden activation (RealMLP uses SELU/Mish; ``"silu"`` by default here).
        dropout: Dropout rate in ``[0, 1)``.
        max_width: Capacity width. max_depth: Capacity depth.
        rngs: Random streams.

    Example:
        >>> from flax import nnx
        >>> import jax.numpy as jnp
        >>> net = RealMLP(5, 2, [16, 16], n_numerical=3, max_width=32, rngs=nnx.Rngs(0))
        >>> net(jnp.ones((4, 5))).shape
        (4, 2)
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden: Sequence[int],
        *,
        n_numerical: int,
        n_frequencies: int = 16,
        d_embedding: int = 4,
        frequency_scale: float = 0.1,
        activation: str = "silu",
        dropout: float = 0.0,
        max_width: int | None = None,
        max_depth: int | None = None,
        rngs: nnx.Rngs,
    ) -> None:
        if not 0 <= n_numerical <= in_features:
            raise ValueError(
                f"`n_numerical` must be in [0, in_features={in_features}], got {n_numerical!r}"
            )
        self.n_numerical = n_numerical
        self.scale = nnx.Param(jnp.ones((in_features,), jnp.float32))
        self.embedding = PeriodicEmbedding(
            max(n_numerical, 1), n_frequencies, d_embedding, frequency_scale, rngs=rngs
        )
        body_in = n_numerical * d_embedding + in_features
        self.body = MLP(
            body_in, out_features, hidden, activation=activation, dropout=dropout,
            max_width=max_width, max_depth=max_depth, rngs=rngs,
        )  # fmt: skip

    def __call__(self, x: jax.Array) -> jax.Array:
        """Maps ``(batch, in_features)`` to ``(batch, out_features)``."""
        x = smooth_clip(x) * self.scale[...]
        if self.n_numerical:
            n = self.n_numerical
            x = jnp.concatenate([self.embedding(x[:, :n]), x], axis=-1)
        return self.body(x)


class TabM(nnx.Module):
    """A TabM-style ensemble: ``k`` members share one MLP, each with its own scaling adapters.

    Layer ``i`` of member ``m`` computes ``((h * r[m]) @ W) * s[m] + b[m]`` (BatchEnsemble), with
    per-member heads. The output has a member axis, ``(batch, k, out_features)``: train on the
    mean of the member losses and predict with the mean of the member probabilities.
    Width, depth and dropout are data, as in :class:`MLP`.

    Args:
        in_features: Number of inputs. out_features: Outputs per member.
        hidden: Active width of each hidden layer.
        k: Number of members.
        activation: Hidden activation. dropout: Dropout rate in ``[0, 1)``.
        max_width: Capacity width. max_depth: Capacity depth.
        rngs: Random streams.

    Example:
        >>> from flax import nnx
        >>> import jax.numpy as jnp
        >>> TabM(5, 3, [16], k=4, rngs=nnx.Rngs(0))(jnp.ones((2, 5))).shape
        (2, 4, 3)
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden: Sequence[int],
        *,
        k: int = 8,
        activation: str = "relu",
        dropout: float = 0.0,
        max_width: int | None = None,
        max_depth: int | None = None,
        rngs: nnx.Rngs,
    ) -> None:
        hidden = [int(h) for h in hidden]
        if not hidden or min(hidden) < 1 or k < 1:
            raise ValueError(f"`hidden` must be positive ints and `k` >= 1, got {hidden!r}, {k!r}")
        if activation not in _ACTIVATIONS:
            raise ValueError(
                f"`activation` must be one of {sorted(_ACTIVATIONS)}, got {activation!r}"
            )
        width = _next_power_of_two(max(hidden)) if max_width is None else max_width
        depth = len(hidden) if max_depth is None else max_depth
        if max(hidden) > width or len(hidden) > depth:
            raise ValueError(
                f"`hidden` {hidden} must fit the capacity max_width={width}, max_depth={depth}"
            )
        self.activation = activation
        widths = np.zeros((depth, width), np.float32)
        for i, units in enumerate(hidden):
            widths[i, :units] = 1.0
        self.width_mask = Mask(jnp.asarray(widths))
        self.depth_mask = Mask(jnp.asarray(np.arange(depth) < len(hidden)))
        rng = _host_rng(rngs)
        fan_ins = [in_features, *hidden, *([width] * (depth - len(hidden)))]
        kernels, r, s, b = [], [], [], []
        for i in range(depth):
            d_in = in_features if i == 0 else width
            kernels.append(_param(rng.standard_normal((d_in, width)) * math.sqrt(2 / fan_ins[i])))
            signs = rng.choice([-1.0, 1.0], (k, d_in)) if i == 0 else np.ones((k, d_in))
            r.append(_param(signs))
            s.append(_param(np.ones((k, width))))
            b.append(_param(np.zeros((k, width))))
        self.kernels, self.r, self.s, self.b = (nnx.List(v) for v in (kernels, r, s, b))
        head_std = math.sqrt(1.0 / hidden[-1])
        self.head_kernel = _param(rng.standard_normal((k, width, out_features)) * head_std)
        self.head_bias = _param(np.zeros((k, out_features)))
        self.dropout = Dropout(dropout, rngs=rngs)
        self.k = k

    def __call__(self, x: jax.Array) -> jax.Array:
        """Maps ``(batch, in_features)`` to ``(batch, k, out_features)``."""
        act = _ACTIVATIONS[self.activation]
        h = jnp.broadcast_to(x[:, None, :], (x.shape[0], self.k, x.shape[-1]))
        for i in range(len(self.kernels)):
            mask = self.width_mask[i].astype(x.dtype)
            z = (h * self.r[i][...]) @ self.kernels[i][...]
            z = self.dropout(act(z * self.s[i][...] + self.b[i][...]) * mask)
            h = z if i == 0 else jnp.where(self.depth_mask[i], z, h)
        return jnp.einsum("bkw,kwo->bko", h, self.head_kernel[...]) + self.head_bias[...]
