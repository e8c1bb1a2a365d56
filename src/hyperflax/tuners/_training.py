"""Training one trial of a HyperModel: build, continue from a checkpoint, fit, keep the best epoch.

Imports Flax; loaded by the tuner only when it searches a HyperModel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
from flax import nnx

from hyperflax.search_spaces import HyperParameters
from hyperflax.trainers import BestCheckpoint, Callback, Trainer, load_weights
from hyperflax.tuners._hypermodel import HyperModel
from hyperflax.tuners._objective import Objective

BEST = "best.npz"  # best-epoch model weights
LAST = "last.npz"  # full training state after the last epoch, for Hyperband continuation


@dataclass(frozen=True)
class FitData:
    """What ``tuner.search`` was given to train every trial on."""

    x: Any
    y: Any
    validation_data: tuple[Any, Any] | None
    epochs: int | None
    batch_size: int
    callbacks: Sequence[Callback]


class _Report(Callback):
    """Reports each epoch's logs to the trial; ``hp.report`` raises to prune it."""

    def __init__(self, hp: HyperParameters) -> None:
        self.hp = hp

    def on_epoch_end(self, epoch: int, logs: dict[str, float], trainer: Trainer) -> None:
        self.hp.report(logs, step=epoch)


def train_trial(
    hypermodel: HyperModel,
    hp: HyperParameters,
    data: FitData,
    *,
    objective: Objective,
    seed: int,
    epochs: int,
    checkpoint: Path,
    parent: Path | None,
    keep_state: bool,
) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Train one trial; return the logs of its best epoch by ``objective`` and its history.

    The best epoch's weights go to ``checkpoint/best.npz`` and, with ``keep_state`` (a tuner that
    may continue the trial), the full final training state to ``checkpoint/last.npz``; a
    ``parent`` checkpoint directory (Hyperband promotion) is continued from rather than
    training from scratch.
    """
    model = hypermodel.build(hp, nnx.Rngs(seed))
    trainer = Trainer(
        model, hypermodel.build_optimizer(hp), hypermodel.loss, hypermodel.metrics, seed=seed
    )
    if parent is not None:
        trainer.load_checkpoint(parent / LAST)
    best = BestCheckpoint(objective.name, mode="min" if objective.sign > 0 else "max")
    history = hypermodel.fit(
        hp,
        trainer,
        data.x,
        data.y,
        validation_data=data.validation_data,
        epochs=epochs,
        batch_size=data.batch_size,
        callbacks=[best, _Report(hp), *data.callbacks],
        initial_epoch=trainer.epoch,
    )
    if best.best_epoch is None:
        raise FloatingPointError(f"no epoch produced a finite {objective.name!r}")
    checkpoint.mkdir(parents=True, exist_ok=True)
    best.save(checkpoint / BEST)
    if keep_state:
        trainer.save_checkpoint(checkpoint / LAST)
    at = history.epochs.index(best.best_epoch)
    best_logs = {name: values[at] for name, values in history.history.items()}
    return best_logs, {"epoch": list(history.epochs), **history.history}


def devices() -> str:
    """The devices a trial trains on (all local devices), for the record."""
    return ", ".join(str(d) for d in jax.local_devices())


def load_trained(
    hypermodel: HyperModel, hp: HyperParameters, seed: int, checkpoint: Path
) -> nnx.Module:
    """Rebuild a trial's model and load its best-epoch weights, without training."""
    model = hypermodel.build(hp, nnx.Rngs(seed))
    load_weights(model, checkpoint / BEST)
    model.eval()
    return model
