"""Convolutional image networks whose depth and dropout rate are data: plain, ResNet, ConvNeXt."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from hyperflax.models._layers import Dropout, Mask
from hyperflax.models._mlp import _host_rng

BLOCKS = ("plain", "residual", "convnext")


class ChannelNorm(nnx.Module):
    """Layer normalization over the channel axis of each pixel (no batch statistics).

    Each example is normalized on its own, so it works the same per population member, on one
    device or several, in training and in evaluation.

    Args:
        channels: Number of channels (the last axis).

    Example:
        >>> import jax.numpy as jnp
        >>> ChannelNorm(2)(jnp.array([[[[1.0, 3.0]]]])).round(3).tolist()
        [[[[-1.0, 1.0]]]]
    """

    def __init__(self, channels: int) -> None:
        self.scale = nnx.Param(jnp.ones((channels,), jnp.float32))
        self.bias = nnx.Param(jnp.zeros((channels,), jnp.float32))

    def __call__(self, x: jax.Array) -> jax.Array:
        """Normalizes the last axis of ``x`` to zero mean and unit variance, then scales."""
        mean = x.mean(-1, keepdims=True)
        var = jnp.square(x - mean).mean(-1, keepdims=True)
        normed = (x - mean) * jax.lax.rsqrt(var + 1e-6)
        return normed * self.scale[...].astype(x.dtype) + self.bias[...].astype(x.dtype)


_DN = ("NHWC", "HWIO", "NHWC")


def _forward_conv(x: jax.Array, kernel: jax.Array) -> jax.Array:
    return jax.lax.conv_general_dilated(x, kernel, (1, 1), "SAME", dimension_numbers=_DN)


@jax.custom_vjp
def conv2d(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """A stride-1, ``SAME``-padded NHWC convolution with an odd ``(kh, kw, in, out)`` kernel.

    The forward pass is XLA's convolution. The backward pass is written out: the input's
    gradient is a forward convolution with the flipped kernel, the kernel's gradient a matrix
    product of image patches with the output's gradient. Inside a loop (a whole epoch is one
    ``lax.scan``), XLA's CPU backend runs its own kernel-gradient convolution about 30 times
    slower than outside one; these two forms run at full speed in both places.

    Example:
        >>> import jax.numpy as jnp
        >>> conv2d(jnp.ones((1, 4, 4, 2)), jnp.ones((3, 3, 2, 5))).shape
        (1, 4, 4, 5)
    """
    return _forward_conv(x, kernel)


def _conv2d_forward(x: jax.Array, kernel: jax.Array) -> tuple[jax.Array, tuple[jax.Array, ...]]:
    return _forward_conv(x, kernel), (x, kernel)


def _conv2d_backward(
    residuals: tuple[jax.Array, ...], dy: jax.Array
) -> tuple[jax.Array, jax.Array]:
    x, kernel = residuals
    kh, kw, c_in, c_out = kernel.shape
    dx = _forward_conv(dy, jnp.swapaxes(kernel[::-1, ::-1], 2, 3))
    patches = jax.lax.conv_general_dilated_patches(x, (kh, kw), (1, 1), "SAME",
                                                   dimension_numbers=_DN)  # fmt: skip
    dk = jnp.einsum("nhwk,nhwo->ko", patches, dy.astype(patches.dtype))
    dk = dk.reshape(c_in, kh, kw, c_out).transpose(1, 2, 0, 3)
    return dx.astype(x.dtype), dk.astype(kernel.dtype)


conv2d.defvjp(_conv2d_forward, _conv2d_backward)


def depthwise_conv2d(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """A stride-1, ``SAME``-padded depthwise convolution, ``kernel`` of shape ``(kh, kw, C)``.

    Written as a sum of ``kh * kw`` shifted products: on a CPU this runs about 10 times faster
    than XLA's grouped convolution, forward and backward.

    Example:
        >>> import jax.numpy as jnp
        >>> depthwise_conv2d(jnp.ones((1, 5, 5, 2)), jnp.ones((3, 3, 2)))[0, 2, 2].tolist()
        [9.0, 9.0]
    """
    kh, kw = kernel.shape[:2]
    height, width = x.shape[1:3]
    padded = jnp.pad(x, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
    out = jnp.zeros_like(x)
    for i in range(kh):
        for j in range(kw):
            out = out + padded[:, i : i + height, j : j + width, :] * kernel[i, j].astype(x.dtype)
    return out


class Conv(nnx.Module):
    """A stride-1 ``SAME`` convolution (see :func:`conv2d`), or depthwise with ``depthwise``.

    Args:
        in_channels: Input channels.
        out_channels: Output channels (equal to ``in_channels`` when depthwise).
        kernel_size: Odd height and width of the kernel.
        depthwise: One kernel per channel (:func:`depthwise_conv2d`).
        zero_init: Start with a zero kernel (the last layer of a residual branch).
        rngs: Random streams for initialization.

    Example:
        >>> from flax import nnx
        >>> import jax.numpy as jnp
        >>> Conv(3, 8, 3, rngs=nnx.Rngs(0))(jnp.ones((2, 6, 6, 3))).shape
        (2, 6, 6, 8)
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        *,
        depthwise: bool = False,
        zero_init: bool = False,
        rngs: nnx.Rngs,
    ) -> None:
        shape = (kernel_size, kernel_size) + ((in_channels,) if depthwise else
                                              (in_channels, out_channels))  # fmt: skip
        fan_in = kernel_size * kernel_size * (1 if depthwise else in_channels)
        # drawn on the host: eager JAX random ops compile once per new shape
        init = _host_rng(rngs).standard_normal(shape) * np.sqrt(2.0 / fan_in)
        self.kernel = nnx.Param(jnp.asarray(np.zeros(shape) if zero_init else init, jnp.float32))
        self.bias = nnx.Param(jnp.zeros((out_channels,), jnp.float32))
        self.depthwise = depthwise

    def __call__(self, x: jax.Array) -> jax.Array:
        """Convolves NHWC ``x``; the output has the same height and width."""
        kernel = self.kernel[...].astype(x.dtype)
        out = depthwise_conv2d(x, kernel) if self.depthwise else conv2d(x, kernel)
        return out + self.bias[...].astype(x.dtype)


class Downsample(nnx.Module):
    """Halves height and width: each 2x2 patch of pixels becomes one, by a dense layer.

    This is a 2x2 convolution of stride 2 (ConvNeXt's downsampling layer), written as a
    reshape and a matrix product. An odd height or width loses its last row or column.

    Example:
        >>> from flax import nnx
        >>> import jax.numpy as jnp
        >>> Downsample(4, 8, rngs=nnx.Rngs(0))(jnp.ones((2, 7, 8, 4))).shape
        (2, 3, 4, 8)
    """

    def __init__(self, in_channels: int, out_channels: int, *, rngs: nnx.Rngs) -> None:
        self.norm = ChannelNorm(in_channels)
        self.dense = nnx.Linear(4 * in_channels, out_channels, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        """Maps ``(n, h, w, c)`` to ``(n, h // 2, w // 2, out_channels)``."""
        n, h, w, c = x.shape
        x = self.norm(x[:, : h - h % 2, : w - w % 2])
        x = x.reshape(n, h // 2, 2, w // 2, 2, c).transpose(0, 1, 3, 2, 4, 5)
        return self.dense(x.reshape(n, h // 2, w // 2, 4 * c))


class _Plain(nnx.Module):
    """Conv 3x3, norm, ReLU."""

    def __init__(self, channels: int, rngs: nnx.Rngs) -> None:
        self.conv = Conv(channels, channels, 3, rngs=rngs)
        self.norm = ChannelNorm(channels)

    def __call__(self, x: jax.Array) -> jax.Array:
        return jax.nn.relu(self.norm(self.conv(x)))


class _Residual(nnx.Module):
    """A pre-activation basic block: ``x + conv(relu(norm(conv(relu(norm(x))))))``."""

    def __init__(self, channels: int, rngs: nnx.Rngs) -> None:
        self.norm1 = ChannelNorm(channels)
        self.conv1 = Conv(channels, channels, 3, rngs=rngs)
        self.norm2 = ChannelNorm(channels)
        self.conv2 = Conv(channels, channels, 3, zero_init=True, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        z = self.conv1(jax.nn.relu(self.norm1(x)))
        return x + self.conv2(jax.nn.relu(self.norm2(z)))


class _ConvNeXt(nnx.Module):
    """A ConvNeXt block: depthwise 3x3, norm, 4x inverted bottleneck with GELU, layer scale.

    ConvNeXt's 7x7 depthwise kernel is for 224x224 images; small images (and compile time on a
    CPU, where the depthwise convolution is a sum of shifted products) want 3x3.
    """

    def __init__(self, channels: int, rngs: nnx.Rngs) -> None:
        self.depthwise = Conv(channels, channels, 3, depthwise=True, rngs=rngs)
        self.norm = ChannelNorm(channels)
        self.up = nnx.Linear(channels, 4 * channels, rngs=rngs)
        self.down = nnx.Linear(4 * channels, channels, rngs=rngs)
        self.gamma = nnx.Param(jnp.full((channels,), 1e-1, jnp.float32))

    def __call__(self, x: jax.Array) -> jax.Array:
        z = self.down(jax.nn.gelu(self.up(self.norm(self.depthwise(x)))))
        return x + z * self.gamma[...].astype(x.dtype)


_BLOCK_TYPES: dict[str, Callable[[int, nnx.Rngs], nnx.Module]] = {
    "plain": _Plain, "residual": _Residual, "convnext": _ConvNeXt,
}  # fmt: skip


class ConvNet(nnx.Module):
    """An NHWC image network of stages of blocks; the active depth and the dropout rate are data.

    A stem convolution, then ``stages`` stages of ``max_depth`` blocks each (the first
    ``depth`` active, the rest skipped by ``lax.cond``: they cost no compute in a single
    model), each stage after the first halving the resolution and doubling the width, then
    global average pooling, dropout and a dense head. Normalization is per pixel over channels,
    so there are no batch statistics. Networks with the same block, width, stages and capacity
    share one compiled program whatever their depth and dropout rate.

    Args:
        in_channels: Channels of the NHWC input.
        num_outputs: Number of outputs (logits, for classification).
        block: ``"plain"`` (conv, norm, ReLU: a small CNN), ``"residual"`` (pre-activation
            ResNet basic blocks) or ``"convnext"`` (depthwise 3x3, inverted bottleneck).
        width: Channels of the first stage.
        depth: Active blocks per stage, at least 1.
        stages: Number of resolutions (the input, then halved ``stages - 1`` times).
        max_depth: Capacity blocks per stage; by default ``depth``, or the top of its range
            when ``depth`` comes from a search space (``hp.Int``), so every depth shares one
            program.
        dropout: Dropout rate before the head, in ``[0, 1)``.
        rngs: Random streams for initialization and dropout.

    Example:
        >>> from flax import nnx
        >>> import jax.numpy as jnp
        >>> net = ConvNet(3, 10, block="residual", width=8, depth=1, max_depth=2,
        ...               rngs=nnx.Rngs(0))
        >>> net(jnp.ones((2, 16, 16, 3))).shape
        (2, 10)
    """

    def __init__(
        self,
        in_channels: int,
        num_outputs: int,
        *,
        block: str = "residual",
        width: int = 32,
        depth: int = 2,
        stages: int = 2,
        max_depth: int | None = None,
        dropout: float = 0.0,
        rngs: nnx.Rngs,
    ) -> None:
        if block not in BLOCKS:
            raise ValueError(f"`block` must be one of {list(BLOCKS)}, got {block!r}")
        high = getattr(depth, "high", None)  # an hp.Int value knows its range
        depth = int(depth)
        if max_depth is None:
            max_depth = high if isinstance(high, int) else depth
        for name, value in (("width", width), ("depth", depth), ("stages", stages)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be an int >= 1, got {value!r}")
        if depth > max_depth:
            raise ValueError(f"`max_depth` must be >= depth={depth}, got {max_depth!r}")
        self.block = block
        widths = [width * 2**s for s in range(stages)]
        self.stem = Conv(in_channels, widths[0], 3, rngs=rngs)
        self.downs = nnx.List(
            [Downsample(c_in, c_out, rngs=rngs) for c_in, c_out in itertools.pairwise(widths)]
        )
        make = _BLOCK_TYPES[block]
        self.blocks = nnx.List(
            [nnx.List([make(c, rngs) for _ in range(max_depth)]) for c in widths]
        )
        self.depth_mask = Mask(jnp.asarray(np.arange(max_depth) < depth))
        self.norm = ChannelNorm(widths[-1])
        self.dropout = Dropout(dropout, rngs=rngs)
        self.head = nnx.Linear(widths[-1], num_outputs, rngs=rngs)

    @property
    def depth(self) -> int:
        """Active blocks per stage (read from the mask)."""
        return int(np.asarray(self.depth_mask[...]).sum())

    def __call__(self, x: jax.Array) -> jax.Array:
        """Maps ``(batch, height, width, in_channels)`` images to ``(batch, num_outputs)``."""
        h = self.stem(x)
        for s, stage in enumerate(self.blocks):
            if s:
                h = self.downs[s - 1](h)
            for i, blk in enumerate(stage):  # the first block always runs
                h = blk(h) if i == 0 else jax.lax.cond(self.depth_mask[i], blk, lambda z: z, h)
        features = self.norm(h.mean(axis=(1, 2)))
        return self.head(self.dropout(features))
