"""Pure per-device training and evaluation programs.

Everything a trial varies numerically (parameters, optimizer state including injected
hyperparameters, masks, dropout rates, RNG state) is an argument; everything structural (graph
definition, optimizer structure, loss, batch geometry) is the hashable ``ProgramConfig``. So
trials that share an architecture reuse one compiled program, and ``train_step`` can be
``jax.vmap``-ed over a population of same-architecture trials.
"""

from __future__ import annotations

import dataclasses
import functools
import types
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from hyperflax.trainers._losses import LossFn

AXIS = "data"
_COMPUTE_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def _fingerprint(value: Any, depth: int = 0) -> Any:
    """A hashable description of a function's code and (recursively) of its closure.

    Two ``optax.inject_hyperparams(optax.adamw)(learning_rate=...)`` transformations get the
    same fingerprint whatever their numeric hyperparameters (those live in the state), while
    transformations with different structure or baked-in constants get different ones.
    """
    if depth > 8:
        return ("id", id(value))
    if isinstance(value, types.FunctionType):
        cells = tuple(_fingerprint(c.cell_contents, depth + 1) for c in value.__closure__ or ())
        defaults = _fingerprint(value.__defaults__, depth + 1)
        return ("fn", value.__code__, cells, defaults)
    if isinstance(value, functools.partial):
        return ("partial", _fingerprint((value.func, value.args, value.keywords), depth + 1))
    if isinstance(value, dict):
        return (
            "dict",
            tuple((k, _fingerprint(v, depth + 1)) for k, v in sorted(value.items(), key=repr)),
        )
    if isinstance(value, list | tuple):
        return (type(value), tuple(_fingerprint(v, depth + 1) for v in value))
    try:
        hash(value)
    except TypeError:
        return ("id", id(value))
    return ("value", type(value), value)


class OptimizerKey:
    """Wraps an optax transformation with structural hashing, for use as a static jit argument.

    Example:
        >>> import optax
        >>> make = optax.inject_hyperparams(optax.adamw)
        >>> OptimizerKey(make(learning_rate=1e-3)) == OptimizerKey(make(learning_rate=1e-2))
        True
    """

    def __init__(self, tx: optax.GradientTransformation) -> None:
        self.tx = tx
        self._fingerprint = (type(tx), _fingerprint(tx.update))
        self._hash = hash(self._fingerprint)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OptimizerKey) and self._fingerprint == other._fingerprint


@dataclasses.dataclass(frozen=True)
class ProgramConfig:
    """The static (compile-time) description of a training or evaluation program.

    Attributes:
        graphdef: Graph definition from ``nnx.split(model, nnx.Param, ...)`` in the needed mode.
        optimizer: The optimizer (training only).
        loss: Per-example loss; ``None`` for prediction.
        precision: ``"float32"`` or ``"bfloat16"`` compute dtype.
        device_batch: Examples per device per step.
        steps: Steps per program run.
        n_devices: Devices the global batch is split over.
        shuffle: Shuffle the training data each epoch.
        with_predictions: Also return per-example predictions (for metrics).
        members: ``0`` for one model; ``K`` for a population of K same-architecture models
            whose state, seed and epoch carry a leading K axis (the program is ``vmap``-ed).
    """

    graphdef: Any
    optimizer: OptimizerKey | None
    loss: LossFn | None
    precision: str
    device_batch: int
    steps: int
    n_devices: int
    shuffle: bool = True
    with_predictions: bool = False
    members: int = 0
    _hash: int = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        key = tuple(getattr(self, f.name) for f in dataclasses.fields(self) if f.compare)
        object.__setattr__(self, "_hash", hash(key))

    def __hash__(self) -> int:
        return self._hash


def _cast(tree: Any, dtype: Any) -> Any:
    """Casts the floating leaves of ``tree`` to ``dtype``, leaving other leaves alone."""

    def cast(leaf: Any) -> Any:
        return leaf.astype(dtype) if jnp.issubdtype(leaf.dtype, jnp.floating) else leaf

    return jax.tree.map(cast, tree)


def _restore_dtypes(tree: Any, like: Any) -> Any:
    return jax.tree.map(lambda leaf, ref: leaf.astype(ref.dtype), tree, like)


def _take(tree: Any, ids: jax.Array) -> Any:
    return jax.tree.map(lambda a: jnp.take(a, ids, axis=0), tree)


def _forward(config: ProgramConfig, params: Any, rest: Any, x: Any) -> tuple[jax.Array, Any]:
    """Runs the model in the compute dtype; returns float32 outputs and the updated state."""
    dtype = _COMPUTE_DTYPES[config.precision]
    model = nnx.merge(config.graphdef, _cast(params, dtype), _cast(rest, dtype))
    outputs = model(**_cast(x, dtype)) if isinstance(x, dict) else model(_cast(x, dtype))
    new_rest = nnx.state(model, nnx.Not(nnx.Param))
    return outputs.astype(jnp.float32), _restore_dtypes(new_rest, rest)


def _pmean_floating(tree: Any) -> Any:
    def mean(leaf: Any) -> Any:
        return jax.lax.pmean(leaf, AXIS) if jnp.issubdtype(leaf.dtype, jnp.floating) else leaf

    return jax.tree.map(mean, tree)


def train_step(
    config: ProgramConfig, params: Any, rest: Any, opt_state: Any, batch: tuple[Any, Any]
) -> tuple[Any, Any, Any, jax.Array, jax.Array]:
    """One optimizer step on this device's share of a batch, gradients averaged over devices.

    Returns ``(params, rest, opt_state, loss, predictions)``. Must run under a mapped axis named
    ``AXIS`` (``shard_map`` or ``pmap``; one device is an axis of size 1).
    """
    x, y = batch
    assert config.optimizer is not None and config.loss is not None
    loss_fn = config.loss

    def objective(p: Any) -> tuple[jax.Array, tuple[jax.Array, Any]]:
        predictions, new_rest = _forward(config, p, rest, x)
        return loss_fn(predictions, y).mean(), (predictions, new_rest)

    (loss, (predictions, new_rest)), grads = jax.value_and_grad(objective, has_aux=True)(params)
    grads, loss, new_rest = _pmean_floating((grads, loss, new_rest))
    updates, opt_state = config.optimizer.tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), new_rest, opt_state, loss, predictions


def _device_rows(config: ProgramConfig, order: jax.Array) -> jax.Array:
    """This device's ``(steps, device_batch)`` rows of a global sample order."""
    grid = order.reshape(config.steps, config.n_devices, config.device_batch)
    return grid[:, jax.lax.axis_index(AXIS)]


def device_train_epoch(
    config: ProgramConfig,
    params: Any,
    rest: Any,
    opt_state: Any,
    x: Any,
    y: Any,
    seed: jax.Array,
    epoch: jax.Array,
    subset: jax.Array | None = None,
) -> tuple[Any, Any, Any, jax.Array, Any, Any]:
    """One epoch as one ``lax.scan``: shuffle on device (key from ``(seed, epoch)``), batch, step.

    With ``subset`` (row indices), the epoch runs over those rows only, exactly as over
    ``(x[subset], y[subset])``. The last partial batch is dropped. Returns ``(params, rest,
    opt_state, step_losses, predictions, rows)``; the last two are ``None`` unless
    ``config.with_predictions``.
    """
    n = jax.tree.leaves(y)[0].shape[0] if subset is None else subset.shape[0]
    used = config.steps * config.n_devices * config.device_batch
    if config.shuffle:
        key = jax.random.fold_in(jax.random.key(seed), epoch)
        order = jax.random.permutation(key, n)[:used]
    else:
        order = jnp.arange(used)
    rows = _device_rows(config, order if subset is None else subset[order])

    def body(carry: tuple[Any, Any, Any], ids: jax.Array) -> tuple[tuple[Any, Any, Any], Any]:
        p, r, o = carry
        p, r, o, loss, predictions = train_step(config, p, r, o, (_take(x, ids), _take(y, ids)))
        return (p, r, o), (loss, predictions if config.with_predictions else None)

    (params, rest, opt_state), (losses, predictions) = jax.lax.scan(
        body, (params, rest, opt_state), rows
    )
    return params, rest, opt_state, losses, predictions, rows if config.with_predictions else None


def device_evaluate(
    config: ProgramConfig, params: Any, rest: Any, x: Any, y: Any
) -> tuple[jax.Array, jax.Array | None]:
    """Predictions (and per-example losses when ``y`` is given) for every padded row.

    Rows past the data are padding (they repeat the last sample); callers keep the first ``n``
    rows of the global ``(steps, n_devices * device_batch)`` layout, so each sample counts once.
    """
    n = jax.tree.leaves(x)[0].shape[0]
    total = config.steps * config.n_devices * config.device_batch
    rows = jnp.minimum(_device_rows(config, jnp.arange(total)), n - 1)
    loss_fn = config.loss

    def body(carry: None, ids: jax.Array) -> tuple[None, tuple[jax.Array, jax.Array | None]]:
        predictions, _ = _forward(config, params, rest, _take(x, ids))
        losses = None if y is None or loss_fn is None else loss_fn(predictions, _take(y, ids))
        return carry, (predictions, losses)

    _, (predictions, losses) = jax.lax.scan(body, None, rows)
    return predictions, losses
