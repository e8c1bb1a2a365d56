"""The callback protocol through which a trainer reports to tuners, plus two built-ins."""

from __future__ import annotations

import dataclasses
import math
import os
from typing import TYPE_CHECKING, Literal

import numpy as np
from flax import nnx

from hyperflax._directions import infer_direction
from hyperflax._npz import write_npz
from hyperflax.trainers._state import assign_model_arrays, model_arrays

if TYPE_CHECKING:
    from hyperflax.trainers._trainer import Trainer

Mode = Literal["auto", "min", "max"]


@dataclasses.dataclass
class History:
    """Per-epoch logs returned by ``Trainer.fit``.

    Attributes:
        history: ``{"loss": [...], "accuracy": [...], "val_loss": [...], ...}``, one value per
            trained epoch.
        epochs: The epoch index of each entry (starts at ``initial_epoch``).

    Example:
        >>> history = History()
        >>> history.append(0, {"loss": 0.5})
        >>> history.history, history.epochs
        ({'loss': [0.5]}, [0])
    """

    history: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    epochs: list[int] = dataclasses.field(default_factory=list)

    def append(self, epoch: int, logs: dict[str, float]) -> None:
        """Records one epoch's logs."""
        self.epochs.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)


class Callback:
    """Hooks called by ``Trainer.fit``; every method is a no-op unless overridden.

    Exceptions raised in a hook propagate out of ``fit`` unchanged (a tuner's pruning callback
    raises ``optuna.TrialPruned``). Set ``trainer.stop_training = True`` to stop after the
    current epoch.

    Example:
        >>> class PrintLoss(Callback):
        ...     def on_epoch_end(self, epoch, logs, trainer):
        ...         print(epoch, logs["loss"])
    """

    def on_train_begin(self, trainer: Trainer) -> None:
        """Called once at the start of ``fit``, before the first epoch."""

    def on_epoch_end(self, epoch: int, logs: dict[str, float], trainer: Trainer) -> None:
        """Called after each epoch with its logs (``loss``, metrics, ``val_*``)."""

    def on_train_end(self, trainer: Trainer) -> None:
        """Called once when ``fit`` finishes normally (not when an exception escapes)."""


def resolve_mode(monitor: str, mode: Mode) -> Literal["min", "max"]:
    """Returns ``mode``, or for ``"auto"`` infers it from the monitored name.

    Example:
        >>> resolve_mode("val_loss", "auto"), resolve_mode("val_accuracy", "auto")
        ('min', 'max')
    """
    if mode in ("min", "max"):
        return mode
    if mode != "auto":
        raise ValueError(f"`mode` must be 'auto', 'min' or 'max', got {mode!r}")
    direction = infer_direction(monitor)
    if direction is not None:
        return direction
    raise ValueError(f"cannot infer `mode` for monitor {monitor!r}: pass mode='min' or 'max'")


def _monitored(logs: dict[str, float], monitor: str) -> float:
    if monitor not in logs:
        raise KeyError(f"monitor {monitor!r} is not in the epoch logs {sorted(logs)}")
    return logs[monitor]


class BestCheckpoint(Callback):
    """Keeps host copies of the model state from the epoch where ``monitor`` was best.

    Args:
        monitor: Log key to watch, e.g. ``"val_accuracy"``.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (inferred from the name).

    Attributes:
        best_epoch: Epoch of the best value, or ``None`` before any finite value.
        best_value: The best monitored value.
        arrays: The best model state as ``{name: np.ndarray}`` (see ``save_weights``).

    Example:
        >>> best = BestCheckpoint("val_accuracy")
        >>> # trainer.fit(..., validation_data=(xv, yv), callbacks=[best])
        >>> # best.restore(model); best.save("best.npz")
    """

    def __init__(self, monitor: str, mode: Mode = "auto") -> None:
        self.monitor = monitor
        self.mode = resolve_mode(monitor, mode)
        self.best_epoch: int | None = None
        self.best_value = math.inf if self.mode == "min" else -math.inf
        self.arrays: dict[str, np.ndarray] = {}

    def on_epoch_end(self, epoch: int, logs: dict[str, float], trainer: Trainer) -> None:
        """Snapshots the model when the monitored value improves."""
        value = _monitored(logs, self.monitor)
        better = value < self.best_value if self.mode == "min" else value > self.best_value
        if math.isfinite(value) and better:
            self.best_epoch, self.best_value = epoch, value
            self.arrays = model_arrays(trainer.model)

    def restore(self, model: nnx.Module) -> None:
        """Writes the best state into ``model`` (same architecture as the trained one)."""
        if self.best_epoch is None:
            raise RuntimeError(f"no finite {self.monitor!r} value was seen; nothing to restore")
        assign_model_arrays(model, self.arrays)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Writes the best state to an ``.npz`` file readable by ``load_weights``."""
        if self.best_epoch is None:
            raise RuntimeError(f"no finite {self.monitor!r} value was seen; nothing to save")
        write_npz(path, self.arrays)


class EarlyStopping(Callback):
    """Stops training when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.

    Args:
        monitor: Log key to watch.
        patience: Epochs without improvement before stopping.
        min_delta: Smallest change that counts as an improvement.
        mode: ``"min"``, ``"max"`` or ``"auto"``.
        restore_best: Restore the best epoch's model state when training ends.

    Example:
        >>> stop = EarlyStopping(monitor="val_loss", patience=3)
        >>> # trainer.fit(..., validation_data=(xv, yv), callbacks=[stop])
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: int = 0,
        min_delta: float = 0.0,
        mode: Mode = "auto",
        restore_best: bool = True,
    ) -> None:
        if patience < 0 or min_delta < 0:
            raise ValueError(
                f"`patience` and `min_delta` must be >= 0, got {patience!r} and {min_delta!r}"
            )
        self.monitor = monitor
        self.patience = patience
        self.min_delta = min_delta
        self.mode = resolve_mode(monitor, mode)
        self.restore_best = restore_best
        self.best = BestCheckpoint(monitor, self.mode)
        self.stopped_epoch: int | None = None
        self._reference = math.nan
        self._wait = 0

    def on_train_begin(self, trainer: Trainer) -> None:
        """Resets the patience counter and the best state."""
        self.best = BestCheckpoint(self.monitor, self.mode)
        self.stopped_epoch = None
        self._reference = math.inf if self.mode == "min" else -math.inf
        self._wait = 0

    def on_epoch_end(self, epoch: int, logs: dict[str, float], trainer: Trainer) -> None:
        """Counts epochs without improvement and stops training after ``patience`` of them."""
        if self.restore_best:
            self.best.on_epoch_end(epoch, logs, trainer)
        value = _monitored(logs, self.monitor)
        sign = 1.0 if self.mode == "min" else -1.0
        if math.isfinite(value) and sign * (self._reference - value) > self.min_delta:
            self._reference, self._wait = value, 0
            return
        self._wait += 1
        if self._wait >= self.patience:
            self.stopped_epoch = epoch
            trainer.stop_training = True

    def on_train_end(self, trainer: Trainer) -> None:
        """Restores the best epoch's state into the model when ``restore_best`` is set."""
        if self.restore_best and self.best.best_epoch is not None:
            self.best.restore(trainer.model)
