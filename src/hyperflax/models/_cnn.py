"""A small NHWC convolutional classifier."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import jax
from flax import nnx

from hyperflax.models._layers import Dropout


class CNN(nnx.Module):
    """Conv(3x3) + ReLU blocks with 2x2 average pooling, global average pooling, dropout, dense.

    The dropout rate is data (see ``Dropout``), so CNNs that differ only in dropout share one
    compiled program.

    Args:
        in_channels: Channels of the NHWC input.
        num_classes: Number of output logits.
        channels: Output channels of each convolutional block.
        dropout: Dropout rate before the classifier, in ``[0, 1)``.
        rngs: Random streams for initialization and dropout.

    Example:
        >>> from flax import nnx
        >>> import jax.numpy as jnp
        >>> model = CNN(1, 10, channels=(8, 16), rngs=nnx.Rngs(0))
        >>> model(jnp.ones((2, 8, 8, 1))).shape
        (2, 10)
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        *,
        channels: Sequence[int] = (32, 64),
        dropout: float = 0.0,
        rngs: nnx.Rngs,
    ) -> None:
        if not channels or min(channels) < 1:
            raise ValueError(f"`channels` must be non-empty positive ints, got {channels!r}")
        sizes = [in_channels, *channels]
        self.convs = nnx.List(
            [
                nnx.Conv(c_in, c_out, kernel_size=(3, 3), padding="SAME", rngs=rngs)
                for c_in, c_out in itertools.pairwise(sizes)
            ]
        )
        self.dropout = Dropout(dropout, rngs=rngs)
        self.head = nnx.Linear(sizes[-1], num_classes, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        """Maps ``(batch, height, width, in_channels)`` images to ``(batch, num_classes)``."""
        for i, conv in enumerate(self.convs):
            x = jax.nn.relu(conv(x))
            if i < len(self.convs) - 1 and min(x.shape[1:3]) >= 2:
                x = nnx.avg_pool(x, window_shape=(2, 2), strides=(2, 2))
        return self.head(self.dropout(x.mean(axis=(1, 2))))
