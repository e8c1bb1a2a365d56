"""Flax network families trained by hyperflax's Trainer: MLP, RealMLP-style and TabM-style.

Every candidate of a family has the same capacity (width and depth are masks, dropout is data)
and its optimizer's numbers are injected (``optax.inject_hyperparams``), so a family compiles
its training program once per data set.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from hyperflax.automl._task import Split, Task
from hyperflax.models import MLP, RealMLP, TabM
from hyperflax.trainers import (
    Callback,
    EarlyStopping,
    Trainer,
    assign_model_arrays,
    model_arrays,
)

CAPACITY = {"mlp": (256, 4), "realmlp": (256, 3), "tabm": (256, 3)}  # (max_width, max_depth)
TABM_K = 8
LABEL_SMOOTHING = 0.1


def smoothed_cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Cross-entropy against labels smoothed by ``LABEL_SMOOTHING`` (RealMLP's default)."""
    n = logits.shape[-1]
    targets = jax.nn.one_hot(labels.astype(jnp.int32), n)
    targets = targets * (1 - LABEL_SMOOTHING) + LABEL_SMOOTHING / n
    return optax.softmax_cross_entropy(logits, targets)


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Plain softmax cross-entropy of integer labels."""
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels.astype(jnp.int32))


def members_cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean over TabM's members of each member's cross-entropy; logits are ``(b, k, c)``."""
    labels = jnp.broadcast_to(labels.astype(jnp.int32)[:, None], logits.shape[:2])
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean(axis=1)


def squared_error(predictions: jax.Array, targets: jax.Array) -> jax.Array:
    """Squared error of (standardized) targets, per example (any member axis averaged)."""
    predictions = predictions.reshape(predictions.shape[0], -1)
    return jnp.square(predictions - targets.reshape(-1, 1)).mean(axis=1)


def loss_for(family: str, task: Task) -> Any:
    """The module-level loss of a family (module-level, so the compiled program is shared)."""
    if not task.classification:
        return squared_error
    return {"realmlp": smoothed_cross_entropy, "tabm": members_cross_entropy}.get(
        family, cross_entropy
    )


def build(spec: dict[str, Any]) -> nnx.Module:
    """The network a spec describes (the spec is JSON: it is also what ``save`` writes).

    Example:
        >>> spec = {"family": "mlp", "in_features": 3, "out_features": 2, "width": 8,
        ...         "depth": 1, "dropout": 0.0, "n_numerical": 3, "seed": 0}
        >>> build(spec).hidden
        [8]
    """
    family = spec["family"]
    max_width, max_depth = CAPACITY[family]
    hidden = [int(spec["width"])] * int(spec["depth"])
    common = dict(dropout=float(spec["dropout"]), max_width=max_width, max_depth=max_depth)
    rngs = nnx.Rngs(int(spec["seed"]))
    n_in, n_out = int(spec["in_features"]), int(spec["out_features"])
    if family == "mlp":
        return MLP(n_in, n_out, hidden, **common, rngs=rngs)  # type: ignore[arg-type]
    if family == "realmlp":
        return RealMLP(
            n_in, n_out, hidden, n_numerical=int(spec["n_numerical"]),
            frequency_scale=float(spec.get("frequency_scale", 0.1)), **common, rngs=rngs,  # type: ignore[arg-type]
        )  # fmt: skip
    return TabM(n_in, n_out, hidden, k=TABM_K, **common, rngs=rngs)  # type: ignore[arg-type]


class DeadlineStop(Callback):
    """Stops training when the next epoch would end after ``deadline`` (``time.monotonic``).

    Example:
        >>> stop = DeadlineStop(time.monotonic() + 60.0)
    """

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self._last = time.monotonic()
        self._epoch_time = 0.0

    def on_train_begin(self, trainer: Trainer) -> None:
        """Starts the epoch clock."""
        self._last = time.monotonic()

    def on_epoch_end(self, epoch: int, logs: dict[str, float], trainer: Trainer) -> None:
        """Stops when the time of the last epoch (not the first: it compiles) no longer fits."""
        now = time.monotonic()
        if epoch > 0:
            self._epoch_time = now - self._last
        self._last = now
        if now + self._epoch_time >= self.deadline:
            trainer.stop_training = True


def batch_size(n: int) -> int:
    """A power-of-two batch size for ``n`` training rows (at most 256 and at most ``n``).

    Example:
        >>> batch_size(100), batch_size(5000)
        (16, 256)
    """
    size = 1 << max(4, int(np.log2(max(n, 1) / 8)))
    return max(1, min(256, size, n))


@dataclass
class NetworkFit:
    """One network candidate ready to train: its trainer, callbacks and data (float32)."""

    spec: dict[str, Any]
    trainer: Trainer
    stop: EarlyStopping
    deadline: DeadlineStop
    callbacks: list[Callback]
    data: dict[str, Any]  # x, y, validation_data, batch_size
    epochs: int

    def state(self) -> dict[str, Any]:
        """``{"spec": JSON spec, "arrays": weights}`` once trained (best epoch restored)."""
        self.spec["epochs"] = (self.stop.best.best_epoch or 0) + 1  # what a refit trains
        return {"spec": self.spec, "arrays": model_arrays(self.trainer.model)}


def prepare_network(
    family: str,
    params: dict[str, Any],
    data: Split,
    task: Task,
    *,
    deadline: float,
    seed: int,
    max_epochs: int,
    patience: int,
    target_scale: tuple[float, float] | None = None,
) -> NetworkFit:
    """Build one network candidate with early stopping on the held-out part and a deadline.

    Regression targets are standardized by ``target_scale`` (mean, deviation), by default
    those of ``data.y_train``.
    """
    if task.classification:
        y_mean, y_std = 0.0, 1.0
    elif target_scale is None:
        y_mean, y_std = float(data.y_train.mean()), float(data.y_train.std() or 1.0)
    else:
        y_mean, y_std = target_scale
    spec = {
        "family": family, "in_features": data.x_train.shape[1],
        "out_features": task.n_classes if task.classification else 1,
        "n_numerical": data.n_numerical, "seed": seed, "y_mean": y_mean, "y_std": y_std,
        **{k: params[k] for k in ("width", "depth", "dropout")},
        "frequency_scale": params.get("frequency_scale", 0.1),
    }  # fmt: skip
    optimizer = optax.inject_hyperparams(optax.adamw)(
        learning_rate=params["learning_rate"], weight_decay=params["weight_decay"]
    )
    trainer = Trainer(build(spec), optimizer, loss_for(family, task), devices=_device(), seed=seed)
    scale = None if task.classification else (y_mean, y_std)
    stop = EarlyStopping("val_loss", patience=patience)
    fit_data = {
        "x": data.x_train.astype(np.float32), "y": scaled_targets(data.y_train, task, scale),
        "validation_data": (
            data.x_val.astype(np.float32), scaled_targets(data.y_val, task, scale)
        ),
        "batch_size": batch_size(len(data.y_train)),
    }  # fmt: skip
    deadline_stop = DeadlineStop(deadline)
    return NetworkFit(
        spec, trainer, stop, deadline_stop, [stop, deadline_stop], fit_data, max_epochs
    )


def scaled_targets(y: np.ndarray, task: Task, scale: tuple[float, float] | None) -> np.ndarray:
    """Targets as a network trains on them: class indices, or values standardized by ``scale``.

    Example:
        >>> scaled_targets(np.array([1.0, 3.0]), Task("regression"), (2.0, 1.0)).tolist()
        [-1.0, 1.0]
    """
    if task.classification:
        return y.astype(np.int32)
    mean, std = scale if scale is not None else (0.0, 1.0)
    return ((y - mean) / std).astype(np.float32)


def fit_network(
    family: str, params: dict[str, Any], data: Split, task: Task, *, grace: float = 0.0, **fit: Any
) -> dict[str, Any]:
    """Trains one network with early stopping on the held-out part; returns its saved state.

    ``fit`` holds ``prepare_network``'s keyword arguments. With ``grace``, the programs are
    compiled first and the deadline moves by the time that took, at most ``grace`` seconds:
    the family's first candidate then trains as long as the ones that reuse its programs.

    Returns:
        ``{"spec": JSON spec, "arrays": weights as NumPy arrays}``.
    """
    network = prepare_network(family, params, data, task, **fit)
    x, y = network.data["x"], network.data["y"]
    if grace > 0:
        started = time.monotonic()
        network.trainer.compile(
            x, y, batch_size=network.data["batch_size"],
            validation_data=network.data["validation_data"],
        )  # fmt: skip
        network.deadline.deadline += min(time.monotonic() - started, grace)
    network.trainer.fit(
        x, y, validation_data=network.data["validation_data"], epochs=network.epochs,
        batch_size=network.data["batch_size"], callbacks=network.callbacks,
    )  # fmt: skip
    return network.state()


def refit_network(
    state: dict[str, Any],
    params: dict[str, Any],
    x: np.ndarray,
    y: np.ndarray,
    task: Task,
    *,
    deadline: float,
) -> dict[str, Any] | None:
    """Train a network's configuration again on ``x, y`` for the epochs its trial found best.

    Returns:
        The new state, or ``None`` when ``deadline`` cut the training short.
    """  # fmt: skip
    spec = dict(state["spec"])
    model = build(spec)
    optimizer = optax.inject_hyperparams(optax.adamw)(
        learning_rate=params["learning_rate"], weight_decay=params["weight_decay"]
    )
    trainer = Trainer(model, optimizer, loss_for(spec["family"], task), devices=_device(),
                      seed=int(spec["seed"]))  # fmt: skip
    targets = (
        y.astype(np.int32)
        if task.classification
        else ((y - spec["y_mean"]) / spec["y_std"]).astype(np.float32)
    )
    epochs = int(spec.get("epochs", 1))
    stop = DeadlineStop(deadline)
    history = trainer.fit(
        x.astype(np.float32), targets, epochs=epochs, batch_size=batch_size(len(y)),
        callbacks=[stop],
    )  # fmt: skip
    if len(history.epochs) < epochs:
        return None
    return {"spec": spec, "arrays": model_arrays(model)}


def _device() -> list[jax.Device]:
    return jax.local_devices()[:1]


def load_network(state: dict[str, Any]) -> nnx.Module:
    """The trained network of a ``fit_network`` state."""
    model = build(state["spec"])
    assign_model_arrays(model, state["arrays"])
    model.eval()
    return model


def predict_network(
    model: nnx.Module, spec: dict[str, Any], x: np.ndarray, task: Task
) -> np.ndarray:
    """Class probabilities (mean over TabM members) or regression values.

    Rows are padded to a power of two so a few compiled programs serve every input size.
    """
    n = len(x)
    bucket = 1 << max(6, (n - 1).bit_length())
    padded = np.zeros((bucket, x.shape[1]), np.float32)
    padded[:n] = x
    trainer = Trainer(model, optax.identity(), loss_for(spec["family"], task), devices=_device())
    out = np.asarray(trainer.predict(padded, batch_size=min(bucket, 1024))[:n], np.float64)
    if task.classification:
        proba = np.exp(out - out.max(-1, keepdims=True))
        proba /= proba.sum(-1, keepdims=True)
        return proba.mean(axis=1) if proba.ndim == 3 else proba
    values = out.reshape(n, -1).mean(axis=1)
    return values * spec["y_std"] + spec["y_mean"]
