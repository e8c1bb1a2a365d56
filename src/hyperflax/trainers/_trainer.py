"""The Trainer: compiled-once epochs, on-device data, multi-device data parallelism."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
import optax
from flax import nnx

from hyperflax._errors import NonFiniteLossError
from hyperflax._npz import read_npz, write_npz
from hyperflax.trainers import _validation as check
from hyperflax.trainers._callbacks import Callback, History
from hyperflax.trainers._losses import LossFn, cross_entropy, resolve_loss
from hyperflax.trainers._metrics import MetricFn, resolve_metrics
from hyperflax.trainers._programs import OptimizerKey, ProgramConfig
from hyperflax.trainers._state import arrays_to_tree, model_arrays, tree_to_arrays
from hyperflax.trainers._strategies import STRATEGIES, ShardMapStrategy

_PRECISIONS = ("float32", "bfloat16")


def check_finite_loss(losses: np.ndarray, epoch: int) -> None:
    """Raise ``NonFiniteLossError`` when an epoch's mean training loss is NaN or infinite.

    Example:
        >>> import numpy as np
        >>> check_finite_loss(np.array([0.5, 0.4]), epoch=0)
    """
    loss = float(np.mean(losses))
    if not math.isfinite(loss):
        raise NonFiniteLossError(
            f"the training loss became {loss} in epoch {epoch}; "
            "try a lower learning rate (or gradient clipping)"
        )


class Trainer:
    """Trains an ``nnx.Module`` with an optax optimizer, a whole epoch per compiled program.

    Data is placed on the devices once per ``fit``; shuffling and batching run on device inside
    one ``lax.scan`` per epoch; the global batch is split over ``devices`` with gradients
    averaged by ``lax.pmean``. Compiled programs are keyed by architecture, optimizer structure
    and shapes only, so a new Trainer for a same-architecture trial compiles nothing when the
    optimizer's numeric hyperparameters are injected with ``optax.inject_hyperparams``.

    Args:
        model: The model, called as ``model(x)`` (or ``model(**x)`` for dict inputs). Training
            updates it in place; ``fit`` leaves it in eval mode.
        optimizer: An optax transformation, e.g.
            ``optax.inject_hyperparams(optax.adamw)(learning_rate=1e-3)``.
        loss: ``"cross_entropy"``, ``"binary_cross_entropy"``, ``"mse"``, ``"mae"``, ``"huber"``
            or a module-level ``fn(predictions, targets) -> per-example loss``.
        metrics: Names (``"accuracy"``, ``"top_k_accuracy"``, ``"auc"``, ``"mse"``, ``"mae"``,
            ``"r2"``) or ``fn(predictions, targets) -> float`` on NumPy arrays.
        devices: Devices for data parallelism; defaults to ``jax.devices()``: every local
            device, or every process's devices after ``jax.distributed.initialize`` (then
            each process runs the same script on the same data).
        strategy: ``"shard_map"`` or ``"pmap"`` (one process's devices only).
        precision: ``"float32"``, or ``"bfloat16"`` for bf16 forward/backward passes with float32
            parameters and optimizer state.
        seed: Seeds the per-epoch shuffling key, derived from ``(seed, epoch)``.

    Attributes:
        epoch: Number of epochs trained so far (the next ``initial_epoch``).
        opt_state: The optimizer state, ``None`` before the first ``fit``.
        stop_training: Set by a callback to stop ``fit`` after the current epoch.

    Example:
        >>> import numpy as np, optax
        >>> from flax import nnx
        >>> from hyperflax.models import MLP
        >>> model = MLP(4, 2, [8], rngs=nnx.Rngs(0))
        >>> trainer = Trainer(model, optax.adam(1e-2), "cross_entropy", ["accuracy"])
        >>> x, y = np.random.rand(32, 4).astype("float32"), np.arange(32) % 2
        >>> history = trainer.fit(x, y, epochs=2, batch_size=8)
        >>> sorted(history.history)
        ['accuracy', 'loss']
    """

    def __init__(
        self,
        model: nnx.Module,
        optimizer: optax.GradientTransformation,
        loss: str | LossFn,
        metrics: Sequence[str | MetricFn] = (),
        *,
        devices: Sequence[jax.Device] | None = None,
        strategy: str = "shard_map",
        precision: str = "float32",
        seed: int = 0,
    ) -> None:
        if strategy not in STRATEGIES:
            raise ValueError(f"`strategy` must be one of {sorted(STRATEGIES)}, got {strategy!r}")
        if precision not in _PRECISIONS:
            raise ValueError(f"`precision` must be one of {list(_PRECISIONS)}, got {precision!r}")
        self.model = model
        self.optimizer = optimizer
        self.loss = loss
        self.metrics = metrics
        self.devices = list(jax.devices() if devices is None else devices)
        if not self.devices:
            raise ValueError("`devices` must not be empty")
        self.strategy = strategy
        self.precision = precision
        self.seed = seed
        self.epoch = 0
        self.opt_state: Any = None
        self.stop_training = False
        self._loss_fn = resolve_loss(loss)
        self._metric_fns = resolve_metrics(metrics)
        self._optimizer_key = OptimizerKey(optimizer)
        self._strategy = STRATEGIES[strategy](self.devices)

    @property
    def n_devices(self) -> int:
        """Number of devices the global batch is split over."""
        return len(self.devices)

    def fit(
        self,
        x: Any,
        y: Any,
        *,
        validation_data: tuple[Any, Any] | None = None,
        validation_split: float | None = None,
        epochs: int,
        batch_size: int,
        shuffle: bool = True,
        callbacks: Sequence[Callback] = (),
        initial_epoch: int = 0,
    ) -> History:
        """Trains epochs ``initial_epoch .. epochs - 1`` (Keras semantics) and returns the logs.

        The last partial batch of each epoch is dropped; validation counts every sample once.
        Callback exceptions propagate unchanged.

        Raises:
            ValueError: on invalid data or arguments, before anything compiles.
            NonFiniteLossError: when an epoch's training loss is NaN or infinite.

        Example:
            >>> trainer.fit(x, y, validation_split=0.2, epochs=3, batch_size=8)  # doctest: +SKIP
        """
        if not 0 <= initial_epoch < epochs:
            raise ValueError(
                f"`initial_epoch` must be in [0, epochs={epochs}), got {initial_epoch!r}"
            )
        x, y, validation = self.prepare_data(
            x, y, validation_data=validation_data, validation_split=validation_split,
            batch_size=batch_size,
        )  # fmt: skip
        graphdef, params, rest = self._split(train=True)
        eval_graphdef = self._split(train=False)[0]
        if self.opt_state is None:
            self.opt_state = self.optimizer.init(params)
        config = self.train_config(graphdef, len(y), batch_size, shuffle)
        data = self._strategy.place_data((x, y))
        placed_validation = validation and (self._strategy.place_data(validation), validation[1])

        history = History()
        self.stop_training = False
        for callback in callbacks:
            callback.on_train_begin(self)
        # Without callbacks nothing reads the model between epochs, so the next epoch is queued
        # before this one's outputs are read; a NaN is then found with one more epoch queued.
        pending = self._strategy.start_epoch(
            config, (params, rest, self.opt_state), data, self.seed, initial_epoch
        )
        for epoch in range(initial_epoch, epochs):
            params, rest, self.opt_state, losses, predictions, rows = current = pending.outputs()
            if not callbacks and epoch + 1 < epochs:
                pending = self._strategy.start_epoch(
                    config, current[:3], data, self.seed, epoch + 1, placed=True
                )
            self.epoch = epoch + 1
            try:
                check_finite_loss(losses, epoch)
            except NonFiniteLossError:
                nnx.update(self.model, params, rest)
                raise
            validated = None
            if placed_validation:
                (xv, yv), y_val = placed_validation
                out = self.run_evaluate(eval_graphdef, (params, rest), xv, yv, batch_size)
                validated = (*out, y_val)
            targets = None if rows is None else y[rows]
            logs = self.epoch_logs(losses, predictions, targets, validated)
            history.append(epoch, logs)
            if callbacks:
                nnx.update(self.model, params, rest)
                for callback in callbacks:
                    callback.on_epoch_end(epoch, logs, self)
                params, rest = nnx.state(self.model, nnx.Param, ...)
                if not self.stop_training and epoch + 1 < epochs:
                    state = (params, rest, self.opt_state)
                    pending = self._strategy.start_epoch(config, state, data, self.seed, epoch + 1)
            if self.stop_training:
                break
        nnx.update(self.model, params, rest)
        for callback in callbacks:
            callback.on_train_end(self)
        return history

    def compile(
        self,
        x: Any,
        y: Any,
        *,
        batch_size: int,
        validation_data: tuple[Any, Any] | None = None,
        shuffle: bool = True,
    ) -> None:
        """Compiles the programs ``fit`` runs on data like this, without training.

        ``fit`` with the same shapes, batch size and model then compiles nothing. Another
        thread may call it while a different trainer trains: a search compiles the next
        trial's programs during the current trial (``strategy="pmap"`` compiles in ``fit``).

        Example:
            >>> trainer.compile(x, y, batch_size=32, validation_data=(xv, yv))  # doctest: +SKIP
        """
        if not isinstance(self._strategy, ShardMapStrategy):
            return
        x, y, validation = self.prepare_data(
            x, y, validation_data=validation_data, validation_split=None, batch_size=batch_size
        )
        graphdef, params, rest = self._split(train=True)
        opt_state = self._opt_state_or_init()  # compiles its per-shape eager programs too
        config = self.train_config(graphdef, len(y), batch_size, shuffle)
        self._strategy.compile_train(config, (params, rest, opt_state), (x, y), self.seed)
        if validation is not None:
            eval_graphdef, params, rest = self._split(train=False)
            config = self._eval_config(eval_graphdef, len(validation[1]), batch_size, True)
            self._strategy.compile_evaluate(config, (params, rest), *validation)

    def prepare_data(
        self,
        x: Any,
        y: Any,
        *,
        validation_data: tuple[Any, Any] | None,
        validation_split: float | None,
        batch_size: int,
    ) -> tuple[check.Data, np.ndarray, tuple[check.Data, np.ndarray] | None]:
        """Checks ``fit``'s data and returns ``(x, y, validation)`` as host arrays.

        ``validation_split`` takes the last rows of ``(x, y)`` for validation. The model is
        traced abstractly on the data (nothing compiles), so a shape it cannot take raises here.

        Raises:
            DataError: on invalid data, naming the argument, the rule and the value.
            ValueError: on inconsistent arguments.

        Example:
            >>> x, y, validation = trainer.prepare_data(  # doctest: +SKIP
            ...     x, y, validation_data=None, validation_split=0.2, batch_size=32)
        """
        if validation_data is not None and validation_split is not None:
            raise ValueError("pass `validation_data` or `validation_split`, not both")
        x, y = check.as_host_arrays(x, "x"), self._targets(y, "y")
        check.check_pair(x, y)
        if validation_split is not None:
            x, y, validation_data = check.split_validation(x, y, validation_split)
        check.check_batch_size(batch_size, len(y), self.n_devices, training=True)
        validation = None
        if validation_data is not None:
            x_val = check.as_host_arrays(validation_data[0], "validation_data[0]")
            y_val = self._targets(validation_data[1], "validation_data[1]")
            check.check_pair(x_val, y_val, prefix="validation_")
            validation = (x_val, y_val)
        graphdef, params, rest = self._split(train=False)
        for xs, ys in [(x, y), *([validation] if validation else [])]:
            self._check_model_fits(graphdef, (params, rest), xs, ys)
        return x, y, validation

    def train_config(
        self, graphdef: Any, n: int, batch_size: int, shuffle: bool, members: int = 0
    ) -> ProgramConfig:
        """The static description of this trainer's training epoch over ``n`` rows."""
        return ProgramConfig(
            graphdef, self._optimizer_key, self._loss_fn, self.precision,
            device_batch=batch_size // self.n_devices, steps=n // batch_size,
            n_devices=self.n_devices, shuffle=shuffle, with_predictions=bool(self._metric_fns),
            members=members,
        )  # fmt: skip

    def check_data(self, x: Any, y: Any, *, prefix: str = "") -> None:
        """Run every check ``fit`` runs on ``(x, y)``, without compiling or training anything.

        The model is traced abstractly on one sample, so a feature shape it cannot take, or
        labels that do not suit the loss, raise here with the fix. ``prefix`` names the pair in
        messages (``"validation_"`` for validation data).

        Raises:
            DataError: on invalid data, naming the argument, the rule and the value.

        Example:
            >>> trainer.check_data(x_train, y_train)  # doctest: +SKIP
        """
        x, y = check.as_host_arrays(x, f"{prefix}x"), self._targets(y, f"{prefix}y")
        check.check_pair(x, y, prefix=prefix)
        graphdef, params, rest = self._split(train=False)
        self._check_model_fits(graphdef, (params, rest), x, y)

    def evaluate(self, x: Any, y: Any, *, batch_size: int) -> dict[str, float]:
        """Loss and metrics over every sample of ``(x, y)`` exactly once.

        Example:
            >>> trainer.evaluate(x, y, batch_size=16)  # doctest: +SKIP
            {'loss': 0.69, 'accuracy': 0.5}
        """
        x, y = check.as_host_arrays(x, "x"), self._targets(y, "y")
        check.check_batch_size(batch_size, check.check_pair(x, y), self.n_devices, training=False)
        graphdef, params, rest = self._split(train=False)
        self._check_model_fits(graphdef, (params, rest), x, y)
        xs, ys = self._strategy.place_data((x, y))
        return self._logs(*self.run_evaluate(graphdef, (params, rest), xs, ys, batch_size), y)

    def predict(self, x: Any, *, batch_size: int) -> np.ndarray:
        """Model outputs (eval mode, float32) for every sample of ``x``.

        Example:
            >>> trainer.predict(x, batch_size=16).shape  # doctest: +SKIP
            (32, 2)
        """
        x = check.as_host_arrays(x, "x")
        check.check_batch_size(
            batch_size, check.check_pair(x, None), self.n_devices, training=False
        )
        graphdef, params, rest = self._split(train=False)
        check.output_shape(graphdef, (params, rest), x)
        placed = self._strategy.place_data(x)
        return self.run_evaluate(graphdef, (params, rest), placed, None, batch_size)[0]

    def save_checkpoint(self, path: str | os.PathLike[str]) -> None:
        """Writes model state, optimizer state, epoch counter and seed to an ``.npz`` file.

        Example:
            >>> trainer.save_checkpoint("trial_7.npz")  # doctest: +SKIP
        """
        arrays = model_arrays(self.model)
        arrays.update(tree_to_arrays(self._opt_state_or_init(), "optimizer"))
        arrays["trainer/epoch"] = np.asarray(self.epoch)
        arrays["trainer/seed"] = np.asarray(self.seed)
        write_npz(path, arrays)

    def load_checkpoint(self, path: str | os.PathLike[str]) -> None:
        """Restores a ``save_checkpoint`` file into this trainer's model and optimizer.

        Continue with ``fit(..., initial_epoch=trainer.epoch)``; the seed is restored too, so
        the continued run matches an uninterrupted one.

        Raises:
            ValueError: when the file is not a checkpoint or its structure differs.

        Example:
            >>> trainer.load_checkpoint("trial_7.npz")  # doctest: +SKIP
        """
        arrays = read_npz(path)
        if "trainer/epoch" not in arrays:
            raise ValueError(f"{os.fspath(path)!r} is not a trainer checkpoint (see load_weights)")
        opt_state = arrays_to_tree(self._opt_state_or_init(), arrays, "optimizer")
        model_state = arrays_to_tree(nnx.state(self.model), arrays, "model")
        nnx.update(self.model, model_state)
        self.opt_state = opt_state
        self.epoch = int(arrays["trainer/epoch"])
        self.seed = int(arrays["trainer/seed"])

    def _opt_state_or_init(self) -> Any:
        if self.opt_state is None:
            return self.optimizer.init(nnx.state(self.model, nnx.Param))
        return self.opt_state

    def _split(self, *, train: bool) -> tuple[Any, Any, Any]:
        """Sets the model's mode and splits it into (graphdef, params, other state)."""
        if train:
            self.model.train()
        else:
            self.model.eval()
        graphdef, params, *rest = nnx.split(self.model, nnx.Param, ...)
        return graphdef, params, rest[0]

    def _targets(self, y: Any, name: str) -> np.ndarray:
        if isinstance(y, dict):
            raise TypeError(f"`{name}` must be an array, got a dict")
        return check.as_host_arrays(y, name)  # type: ignore[return-value]

    def _check_model_fits(
        self, graphdef: Any, state: tuple[Any, Any], x: check.Data, y: np.ndarray
    ) -> None:
        shape = check.output_shape(graphdef, state, x)
        if self._loss_fn is cross_entropy:
            check.check_class_labels(y, shape[-1])

    def run_evaluate(
        self,
        graphdef: Any,
        state: tuple[Any, Any],
        x: Any,
        y: Any,
        batch_size: int,
        members: int = 0,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Predictions (and losses with ``y``) of placed data, ``members`` models at once."""
        n = jax.tree.leaves(x)[0].shape[1 if self.strategy == "pmap" else 0]
        config = self._eval_config(graphdef, n, batch_size, y is not None, members)
        predictions, losses = self._strategy.evaluate(config, state, x, y)
        rows = (slice(None),) * bool(members) + (slice(n),)  # members lead, then rows
        return predictions[rows], None if losses is None else losses[rows]

    def _eval_config(
        self, graphdef: Any, n: int, batch_size: int, with_loss: bool, members: int = 0
    ) -> ProgramConfig:
        return ProgramConfig(
            graphdef, None, self._loss_fn if with_loss else None, self.precision,
            device_batch=batch_size // self.n_devices, steps=-(-n // batch_size),
            n_devices=self.n_devices, members=members,
        )  # fmt: skip

    def epoch_logs(
        self,
        losses: np.ndarray,
        predictions: np.ndarray | None,
        y: np.ndarray | None,
        validated: tuple[np.ndarray, Any, np.ndarray] | None,
    ) -> dict[str, float]:
        """One epoch's logs: mean training loss, training metrics, ``val_*`` of validation.

        Args:
            losses: the epoch's step losses.
            predictions: training predictions (when there are metrics) and ``y`` their targets.
            y: the targets of ``predictions``.
            validated: ``(predictions, losses, targets)`` on the validation data, if any.
        """
        logs = {"loss": float(losses.mean())}
        if predictions is not None and y is not None:
            logs.update(self._metric_logs(predictions, y, ""))
        if validated is not None:
            logs.update(self._logs(*validated, prefix="val_"))
        return logs

    def _metric_logs(self, predictions: np.ndarray, y: np.ndarray, prefix: str) -> dict[str, float]:
        return {prefix + name: fn(predictions, y) for name, fn in self._metric_fns.items()}

    def _logs(
        self, predictions: np.ndarray, losses: Any, y: np.ndarray, prefix: str = ""
    ) -> dict[str, float]:
        return {
            prefix + "loss": float(np.mean(losses)),
            **self._metric_logs(predictions, y, prefix),
        }
