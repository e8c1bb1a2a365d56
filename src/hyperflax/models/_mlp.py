"""A multilayer perceptron whose width, depth and dropout rate are data, not structure."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from hyperflax.models._layers import Dropout, Mask, MaskedLayerNorm

_ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": jax.nn.relu,
    "gelu": jax.nn.gelu,
    "silu": jax.nn.silu,
    "tanh": jnp.tanh,
    "elu": jax.nn.elu,
}
_NORMS = (None, "batch", "layer")


def _next_power_of_two(n: int) -> int:
    return 1 << (n - 1).bit_length()


def _linear(
    in_features: int, out_features: int, fan_in: int, gain: float, rng: np.random.Generator
) -> nnx.Linear:
    """A Linear layer with kernel variance ``gain / fan_in`` (the ACTIVE fan-in), zero bias.

    Drawn on the host: eager JAX random ops would compile once per new shape, which on a CPU
    costs more than a whole trial's training.
    """
    std = math.sqrt(gain / fan_in)
    kernel = (rng.standard_normal((in_features, out_features)) * std).astype(np.float32)
    return nnx.Linear(
        in_features,
        out_features,
        kernel_init=lambda *_: jnp.asarray(kernel),
        bias_init=lambda _, shape, dtype: jnp.asarray(np.zeros(shape, dtype)),
        rngs=nnx.Rngs(0),  # unused: both initializers above ignore their key
    )


def _host_rng(rngs: nnx.Rngs) -> np.random.Generator:
    """A NumPy generator seeded from the ``params`` stream, so ``rngs`` still decides the init."""
    return np.random.default_rng(np.asarray(jax.random.key_data(rngs.params())))


class MLP(nnx.Module):
    """A masked MLP: parameters are allocated at a capacity, the active shape is data.

    Every hidden layer has ``max_width`` units; layer ``i`` keeps its first ``hidden[i]`` units
    (a ``Mask`` variable), and layers beyond ``len(hidden)`` are the identity. Because the mask
    and the dropout rate live in non-``Param`` variables, every MLP with the same capacity,
    activation and norm has the same graph definition, so a tuner compiles one training program
    for a whole space of widths, depths and dropout rates. The outputs equal those of an
    unmasked MLP of the active shape.

    Args:
        in_features: Number of input features.
        out_features: Number of outputs (classes, for classification).
        hidden: Active width of each hidden layer; at least one layer.
        activation: One of ``"relu"``, ``"gelu"``, ``"silu"``, ``"tanh"``, ``"elu"``.
        dropout: Dropout rate after each hidden layer, in ``[0, 1)``.
        norm: ``None``, ``"batch"`` or ``"layer"`` normalization before each activation.
        max_width: Capacity width. By default, when the widths come from a search space
            (``hp.Int``, whose values know their range), the largest width of that range, so
            every width of the space shares one program; otherwise the next power of two
            >= ``max(hidden)``.
        max_depth: Capacity depth. By default, when the widths come from a search space, the
            next power of two >= ``len(hidden)`` (depths 1, 2, 3-4, ... share programs);
            otherwise ``len(hidden)``.
        rngs: Random streams for initialization and dropout.

    Example:
        >>> from flax import nnx
        >>> import jax.numpy as jnp
        >>> model = MLP(4, 3, [16, 8], max_width=32, max_depth=3, rngs=nnx.Rngs(0))
        >>> model(jnp.ones((2, 4))).shape
        (2, 3)
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden: Sequence[int],
        *,
        activation: str = "relu",
        dropout: float = 0.0,
        norm: str | None = None,
        max_width: int | None = None,
        max_depth: int | None = None,
        rngs: nnx.Rngs,
    ) -> None:
        highs = [getattr(h, "high", None) for h in hidden]  # hp.Int values know their range
        tuned = [high for high in highs if isinstance(high, int)]
        hidden = [int(h) for h in hidden]
        if not hidden or min(hidden) < 1:
            raise ValueError(f"`hidden` must be a non-empty list of positive ints, got {hidden!r}")
        if activation not in _ACTIVATIONS:
            raise ValueError(
                f"`activation` must be one of {sorted(_ACTIVATIONS)}, got {activation!r}"
            )
        if norm not in _NORMS:
            raise ValueError(f"`norm` must be one of {list(_NORMS)}, got {norm!r}")
        if max_width is None:
            max_width = max([*tuned, *hidden]) if tuned else _next_power_of_two(max(hidden))
        if max_depth is None:
            max_depth = _next_power_of_two(len(hidden)) if tuned else len(hidden)
        width, depth = max_width, max_depth
        if max(hidden) > width:
            raise ValueError(f"`max_width` must be >= max(hidden)={max(hidden)}, got {width}")
        if len(hidden) > depth:
            raise ValueError(f"`max_depth` must be >= len(hidden)={len(hidden)}, got {depth}")

        self.activation = activation
        self.norm = norm
        widths = np.zeros((depth, width), np.float32)
        for i, units in enumerate(hidden):
            widths[i, :units] = 1.0
        self.width_mask = Mask(jnp.asarray(widths))
        self.depth_mask = Mask(jnp.asarray(np.arange(depth) < len(hidden)))
        fan_ins = [in_features, *hidden, *([width] * (depth - len(hidden)))]
        rng = _host_rng(rngs)
        self.layers = nnx.List(
            [
                _linear(in_features if i == 0 else width, width, fan_ins[i], 2.0, rng)
                for i in range(depth)
            ]
        )
        norms: list[nnx.Module] = []
        if norm == "batch":
            norms = [nnx.BatchNorm(width, rngs=rngs) for _ in range(depth)]
        elif norm == "layer":
            norms = [MaskedLayerNorm(width) for _ in range(depth)]
        self.norms = nnx.List(norms)
        self.dropout = Dropout(dropout, rngs=rngs)
        self.head = _linear(width, out_features, hidden[-1], 1.0, rng)

    @property
    def hidden(self) -> list[int]:
        """The active width of each active hidden layer (read from the masks)."""
        widths = np.asarray(self.width_mask[...]).sum(axis=1).astype(int)
        return [
            int(w) for w, on in zip(widths, np.asarray(self.depth_mask[...]), strict=True) if on
        ]

    def __call__(self, x: jax.Array) -> jax.Array:
        """Maps ``(batch, in_features)`` inputs to ``(batch, out_features)`` outputs."""
        act = _ACTIVATIONS[self.activation]
        h = x
        for i, layer in enumerate(self.layers):
            mask = self.width_mask[i].astype(x.dtype)
            z = layer(h)
            if self.norm == "batch":
                z = self.norms[i](z)
            elif self.norm == "layer":
                z = self.norms[i](z, mask)
            z = self.dropout(act(z) * mask)
            h = z if i == 0 else jnp.where(self.depth_mask[i], z, h)
        return self.head(h)
