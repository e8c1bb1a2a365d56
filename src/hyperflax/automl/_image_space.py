"""The image search space: ConvNet families with on-device augmentation, as one HyperModel.

A candidate is a :class:`ImageModel`: augmentation (random shifts, flips where allowed, mixup or
cutmix) inside the compiled epoch, then a :class:`~hyperflax.models.ConvNet`. Its depth, dropout
rate, shift, mixing and label smoothing are data and its optimizer's numbers are injected, so
candidates of one family and width share a compiled program.

In training mode the model returns its outputs followed by two columns, the mixing weight of
each row and the label smoothing, which :func:`image_loss` reads: mixup and cutmix pair each
row with the next row of the (shuffled) batch. In evaluation mode those columns are 1 and 0,
so the validation loss is the plain cross-entropy (or squared error).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from hyperflax.models import ConvNet
from hyperflax.search_spaces import HyperParameters
from hyperflax.tuners._hypermodel import HyperModel

FAMILIES = {"cnn": "plain", "resnet": "residual", "convnext": "convnext"}
MIXES = ("none", "mixup", "cutmix")
_MIX_ALPHA = {"mixup": 0.2, "cutmix": 1.0}
WARMUP = 0.05  # of the longest schedule's steps
_END = 0.02  # the schedule's last learning-rate factor


class _Setting(nnx.Variable):
    """A non-trainable per-candidate number (shift, mixing, smoothing): data, not structure."""


class ImageModel(nnx.Module):
    """A :class:`~hyperflax.models.ConvNet` behind on-device augmentation (see the module doc).

    Args:
        net: The network.
        shift: Largest random translation, as a fraction of height and width (0: none).
        flip: Mirror each training image left-right with probability 1/2.
        mix: ``"none"``, ``"mixup"`` or ``"cutmix"``.
        smoothing: Label smoothing of the training loss (classification).
        rngs: Random streams; the ``augment`` stream (or the default) is forked.
    """

    def __init__(
        self,
        net: nnx.Module,
        *,
        shift: float,
        flip: bool,
        mix: str,
        smoothing: float,
        rngs: nnx.Rngs,
    ) -> None:
        self.net = net
        self.flip = flip
        self.shift = _Setting(jnp.asarray(shift, jnp.float32))
        self.mix = _Setting(jnp.asarray(MIXES.index(mix), jnp.int32))
        self.smoothing = _Setting(jnp.asarray(smoothing, jnp.float32))
        self.deterministic = False
        self.rngs = rngs["augment"].fork()

    def __call__(self, x: jax.Array) -> jax.Array:
        """Outputs of ``(batch, H, W, C)`` images, then the mixing and smoothing columns."""
        n = x.shape[0]
        if self.deterministic:
            extra = jnp.broadcast_to(jnp.asarray([1.0, 0.0], x.dtype), (n, 2))
            return jnp.concatenate([self.net(x), extra], axis=1)
        x = _shift(x, self.shift[...], self.rngs())
        if self.flip:
            mirrored = jax.random.bernoulli(self.rngs(), 0.5, (n, 1, 1, 1))
            x = jnp.where(mirrored, x[:, :, ::-1], x)
        x, lam = _mix(x, self.mix[...], self.rngs())
        out = self.net(x)
        extra = jnp.stack([lam, jnp.broadcast_to(self.smoothing[...], (n,))], axis=1)
        return jnp.concatenate([out, extra.astype(out.dtype)], axis=1)


def _shift(x: jax.Array, fraction: jax.Array, key: jax.Array) -> jax.Array:
    """Each image translated by up to ``fraction`` of its size (zero fill; compiled once)."""
    n, h, w, _ = x.shape
    pad_h, pad_w = max(1, math.ceil(0.25 * h)), max(1, math.ceil(0.25 * w))
    padded = jnp.pad(x, ((0, 0), (pad_h, pad_h), (pad_w, pad_w), (0, 0)))
    limit = jnp.stack([jnp.round(fraction * h), jnp.round(fraction * w)])
    limit = jnp.minimum(limit, jnp.asarray([pad_h, pad_w], jnp.float32))
    offsets = jnp.round(jax.random.uniform(key, (n, 2), minval=-1.0, maxval=1.0) * limit)
    starts = (offsets + jnp.asarray([pad_h, pad_w], jnp.float32)).astype(jnp.int32)

    def crop(image: jax.Array, start: jax.Array) -> jax.Array:
        return jax.lax.dynamic_slice(image, (start[0], start[1], 0), (h, w, x.shape[3]))

    return jax.vmap(crop)(padded, starts)


def _mix(x: jax.Array, mix: jax.Array, key: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Mixup or cutmix of each row with the next (``mix`` is the index in ``MIXES``).

    Returns:
        The images and each row's weight of its own label.
    """
    n, h, w, _ = x.shape
    beta_key, y_key, x_key = jax.random.split(key, 3)
    alpha = jnp.where(mix == 1, _MIX_ALPHA["mixup"], _MIX_ALPHA["cutmix"])
    lam = jax.random.beta(beta_key, alpha, alpha)
    other = jnp.roll(x, 1, axis=0)
    mixed_up = lam * x + (1 - lam) * other
    cut_h = jnp.round(h * jnp.sqrt(1 - lam)).astype(jnp.int32)
    cut_w = jnp.round(w * jnp.sqrt(1 - lam)).astype(jnp.int32)
    top = jax.random.randint(y_key, (), 0, h - cut_h + 1)
    left = jax.random.randint(x_key, (), 0, w - cut_w + 1)
    rows, cols = jnp.arange(h)[:, None], jnp.arange(w)[None, :]
    box = (rows >= top) & (rows < top + cut_h) & (cols >= left) & (cols < left + cut_w)
    cut = jnp.where(box[None, :, :, None], other, x)
    cut_lam = 1.0 - (cut_h * cut_w) / (h * w)
    images = jnp.where(mix == 0, x, jnp.where(mix == 1, mixed_up, cut))
    weight = jnp.where(mix == 0, 1.0, jnp.where(mix == 1, lam, cut_lam))
    return images.astype(x.dtype), jnp.full((n,), weight, jnp.float32)


def image_loss(outputs: jax.Array, labels: jax.Array) -> jax.Array:
    """Cross-entropy of mixed, smoothed labels, read from an :class:`ImageModel`'s columns."""
    logits, lam, smoothing = outputs[:, :-2], outputs[:, -2:-1], outputs[:, -1:]
    n = logits.shape[-1]
    targets = jax.nn.one_hot(labels.astype(jnp.int32), n, dtype=jnp.float32)
    targets = targets * (1 - smoothing) + smoothing / n
    targets = lam * targets + (1 - lam) * jnp.roll(targets, 1, axis=0)
    return optax.softmax_cross_entropy(logits.astype(jnp.float32), targets)


def image_squared_error(outputs: jax.Array, targets: jax.Array) -> jax.Array:
    """Squared error of (standardized) targets, mixed as the images were."""
    lam = outputs[:, -2]
    y = targets.reshape(-1).astype(jnp.float32)
    mixed = lam * y + (1 - lam) * jnp.roll(y, 1)
    return jnp.square(outputs[:, 0].astype(jnp.float32) - mixed)


@dataclass(frozen=True)
class ImageTask:
    """What the space is built for: image shape, outputs, mirroring and the schedule length."""

    shape: tuple[int, int, int]  # height, width, channels
    n_outputs: int  # classes, or 1 for regression
    classification: bool
    flip: bool
    widths: tuple[int, ...]
    schedule_steps: int  # the longest candidate's optimizer steps (warmup + cosine decay)

    @property
    def stages(self) -> int:
        """Resolutions: 8x8 images get 2, 16x16 and above 3."""
        return max(1, min(3, int(math.log2(max(min(self.shape[:2]), 1))) - 1))


class ImageSpace(HyperModel):
    """The conditional space of image networks: family, width, depth, regularization, schedule.

    Every trial's optimizer is AdamW (injected learning rate and weight decay) followed by one
    warmup + cosine schedule shared by every candidate of the fit, so trials continued by
    Hyperband follow the schedule where their parent stopped.
    """

    def __init__(self, task: ImageTask, *, precision: str = "float32") -> None:
        super().__init__(
            loss=image_loss if task.classification else image_squared_error, precision=precision
        )
        self.task = task

    def build(self, hp: HyperParameters, rngs: nnx.Rngs) -> nnx.Module:
        """The candidate's :class:`ImageModel`."""
        task = self.task
        family = hp.Choice("family", list(FAMILIES))
        width = hp.Choice("width", list(task.widths))
        self.check_start(family, width)
        net = ConvNet(
            task.shape[2], task.n_outputs, block=FAMILIES[family],
            width=width, depth=hp.Int("depth", 1, 3),
            stages=task.stages, dropout=hp.Float("dropout", 0.0, 0.4), rngs=rngs,
        )  # fmt: skip
        classification = task.classification
        return ImageModel(
            net, shift=hp.Float("shift", 0.0, 0.15), flip=task.flip,
            mix=hp.Choice("mix", list(MIXES)) if classification else "none",
            smoothing=hp.Float("label_smoothing", 0.0, 0.2) if classification else 0.0,
            rngs=rngs,
        )  # fmt: skip

    def check_start(self, family: str, width: int) -> None:
        """Called before a candidate of ``family`` and ``width`` is built; may refuse it."""

    def build_optimizer(self, hp: HyperParameters) -> optax.GradientTransformation:
        """AdamW with a tuned learning rate and weight decay, times the shared schedule."""
        adamw = optax.inject_hyperparams(optax.adamw)(
            learning_rate=hp.Float("learning_rate", 1e-4, 1e-2, log=True),
            weight_decay=hp.Float("weight_decay", 1e-6, 1e-1, log=True),
        )
        return optax.chain(adamw, scale_by_warmup_cosine(self.task.schedule_steps))


class WarmupCosineState(NamedTuple):
    """Steps taken and the schedule's length, both data (one program serves every length)."""

    step: jax.Array
    total: jax.Array


def scale_by_warmup_cosine(total_steps: int) -> optax.GradientTransformation:
    """Scale updates by a linear warmup over 5% of ``total_steps``, then a cosine decay to 2%.

    The same curve as ``optax.warmup_cosine_decay_schedule(0, 1, warmup, total_steps,
    end_value=0.02)``, but the length lives in the state rather than in the compiled
    program, so a search that picks its epoch budget after compiling keeps its programs.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = scale_by_warmup_cosine(100)
        >>> state = tx.init({"w": jnp.ones(2)})
        >>> int(state.total)
        100
    """

    def init(params: Any) -> WarmupCosineState:
        del params
        return WarmupCosineState(jnp.zeros([], jnp.int32), jnp.asarray(total_steps, jnp.int32))

    def update(updates: Any, state: WarmupCosineState, params: Any = None) -> Any:
        del params
        step = state.step.astype(jnp.float32)
        total = jnp.maximum(state.total.astype(jnp.float32), 2.0)
        warmup = jnp.maximum(1.0, jnp.floor(WARMUP * total))
        progress = jnp.clip((step - warmup) / jnp.maximum(total - warmup, 1.0), 0.0, 1.0)
        decay = _END + (1.0 - _END) * 0.5 * (1.0 + jnp.cos(jnp.pi * progress))
        scale = jnp.where(step < warmup, step / warmup, decay)
        updates = jax.tree.map(lambda u: u * scale.astype(u.dtype), updates)
        return updates, WarmupCosineState(optax.safe_increment(state.step), state.total)

    return optax.GradientTransformation(init, update)


def warm_start(task: ImageTask) -> list[dict[str, Any]]:
    """Configurations tried first, best expected value first (AutoKeras' ``initial_hps`` idea).

    A small CNN trains fast and is rarely bad; a ResNet with mixing regularizes larger data;
    a ConvNeXt-style net is the third family. Regression drops mixing and smoothing.
    """
    small, mid = task.widths[0], task.widths[min(1, len(task.widths) - 1)]
    configs = [
        {"family": "cnn", "width": mid, "depth": 1, "dropout": 0.1, "shift": 0.1, "mix": "none",
         "label_smoothing": 0.1, "learning_rate": 3e-3, "weight_decay": 1e-4},
        {"family": "resnet", "width": small, "depth": 1, "dropout": 0.1, "shift": 0.1,
         "mix": "mixup", "label_smoothing": 0.1, "learning_rate": 2e-3, "weight_decay": 5e-4},
        {"family": "convnext", "width": small, "depth": 1, "dropout": 0.1, "shift": 0.1,
         "mix": "none", "label_smoothing": 0.1, "learning_rate": 2e-3, "weight_decay": 5e-2},
        {"family": "resnet", "width": mid, "depth": 2, "dropout": 0.2, "shift": 0.1,
         "mix": "cutmix", "label_smoothing": 0.1, "learning_rate": 1e-3, "weight_decay": 1e-4},
    ]  # fmt: skip
    if not task.classification:
        for config in configs:
            del config["mix"], config["label_smoothing"]
    return configs


def outputs_of(out: jax.Array) -> jax.Array:
    """The model's own outputs, without the mixing and smoothing columns."""
    return out[..., :-2]
