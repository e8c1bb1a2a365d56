"""Training one trial of a HyperModel: build, continue from a checkpoint, fit, keep the best epoch.

Imports Flax; a tuner loads it only when it searches a HyperModel.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import numpy as np
from flax import nnx
from optuna.trial import FrozenTrial, TrialState

from hyperflax import _study_keys as keys
from hyperflax.search_spaces import HyperParameters
from hyperflax.trainers import (
    BestCheckpoint,
    Callback,
    CompilationCounter,
    History,
    Member,
    MemberResult,
    Trainer,
    enable_compilation_cache,
    encode_labels,
    load_weights,
    split_validation,
)
from hyperflax.trainers._strategies import is_training_program
from hyperflax.tuners._checks import check_int
from hyperflax.tuners._dry_run import dry_run
from hyperflax.tuners._hypermodel import HyperModel
from hyperflax.tuners._objective import Objective
from hyperflax.tuners._plan import TrialPlan
from hyperflax.tuners._populations import PopulationRunner
from hyperflax.tuners._runner import SearchArgs, TrialContext, TrialOutput, importable_name

BEST = "best.npz"  # best-epoch model weights
LAST = "last.npz"  # full training state after the last epoch, for a trial that is continued


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


class ModelRunner(PopulationRunner):
    """Trains a :class:`~hyperflax.HyperModel` per trial, with checkpoints in the project.

    When a search ends, only checkpoints that can still be used stay: the best-epoch weights of
    the ``KEEP_BEST`` best trials, and the full training state of trials a later trial may
    continue (none once the tuner's plan is exhausted).

    Args:
        hypermodel: the model family to train.
        project_dir: the tuner's project directory; checkpoints go to ``checkpoints/``.
        seed: the seed every trial's model and trainer start from.
    """

    KEEP_BEST = 10

    def __init__(self, hypermodel: HyperModel, project_dir: Path, seed: int) -> None:
        self.hypermodel = hypermodel
        self.project_dir = project_dir
        self.seed = seed
        self.data: FitData | None = None
        self.classes: list[Any] | None = None  # the labels of the class ids, when converted
        self._state_bytes = 0  # of the model at default values, known after prepare()
        self._overlap = (0.0, 0.0)

    def prepare(self, args: SearchArgs, *, objective: Objective, plans_epochs: bool) -> None:
        """Check the training arguments and keep the data; nothing is compiled yet."""
        if args.x is None or args.y is None:
            raise ValueError("search(x, y, ...) needs training data x and y to train a HyperModel")
        epochs = None
        if not plans_epochs:
            check_int("epochs", args.epochs, low=1)
            epochs = args.epochs
        check_int("batch_size", args.batch_size, low=1)
        x, y, validation_data = args.x, args.y, args.validation_data
        if validation_data is not None and args.validation_split is not None:
            raise ValueError("pass validation_data or validation_split, not both")
        self.classes = None
        if self.hypermodel.loss == "cross_entropy":
            y, validation_data, self.classes = encode_labels(y, validation_data)
        model = dry_run(self.hypermodel, x, y, validation_data)  # x, y as given, before a split
        self._state_bytes = sum(
            getattr(leaf, "nbytes", 0) for leaf in jax.tree.leaves(nnx.state(model))
        )
        if args.validation_split is not None:
            x, y, validation_data = split_validation(x, y, args.validation_split)
        self._check_objective_is_logged(objective, validation_data)
        enable_compilation_cache(self.project_dir / "compile_cache")
        self.data = FitData(x, y, validation_data, epochs, args.batch_size, tuple(args.callbacks))

    def _check_objective_is_logged(
        self, objective: Objective, validation_data: tuple[Any, Any] | None
    ) -> None:
        metrics = self.hypermodel.metrics
        if all(isinstance(m, str) for m in metrics):  # a callable's log name is its own
            logged = {"loss", *metrics}
            logged |= {f"val_{name}" for name in logged}
            if objective.name not in logged:
                raise ValueError(
                    f"objective {objective.name!r} is not logged by this HyperModel; "
                    f"choose one of {sorted(logged)} or add the metric to metrics="
                )
        if objective.name.startswith("val_") and validation_data is None:
            raise ValueError(
                f"objective {objective.name!r} needs validation_data= or validation_split="
            )

    def _start_args(self, context: TrialContext) -> dict[str, Any]:
        assert self.data is not None, "prepare() runs before any trial"
        plan = context.plan
        epochs = plan.epochs if plan.epochs is not None else self.data.epochs
        return {
            "objective": context.objective,
            "seed": self.seed,
            "epochs": epochs,
            "checkpoint": self.checkpoint(context.number),
            "parent": None if plan.continues is None else self.checkpoint(plan.continues),
            "keep_state": plan.keep_state,
        }

    def _output(self, logs: dict[str, float], history: dict[str, list[float]]) -> TrialOutput:
        attrs: dict[str, Any] = {keys.DEVICES: devices()}
        if self.classes is not None:  # kept with the trial: an export in a new process has them
            attrs[keys.CLASSES] = self.classes
        return TrialOutput(logs, history, attrs)

    def run(self, hp: HyperParameters, context: TrialContext) -> TrialOutput:
        """Train the trial's model (continuing its plan's parent) and keep its best epoch."""
        assert self.data is not None, "prepare() runs before any trial"
        started = time.monotonic()
        with CompilationCounter() as compiling:
            logs, history = train_trial(
                self.hypermodel, hp, self.data, built=context.built, **self._start_args(context)
            )
        new = not self._own_fit and any(map(is_training_program, compiling.names))
        spent = time.monotonic() - started
        self._overlap = (compiling.seconds, spent - compiling.seconds) if new else (0.0, 0.0)
        return self._output(logs, history)

    @property
    def _own_fit(self) -> bool:
        """The HyperModel overrides ``fit``: it may train on other shapes, one trial at a time."""
        return type(self.hypermodel).fit is not HyperModel.fit

    def overlap(self) -> tuple[float, float]:
        """The last trial's compiling and other seconds, where compiling ahead overlaps them.

        On a CPU, compiling and training share the cores: ``(0, 0)`` (bench/compile_ahead.py
        measured 0.95-1.14x on 2 cores).
        """
        if jax.default_backend() == "cpu":
            return 0.0, 0.0
        return self._overlap

    def compile_ahead(self, hp: HyperParameters, context: TrialContext) -> None:
        """Build the trial's model and compile its training and validation programs.

        A trial that continues its parent trains the parent's programs, and a HyperModel that
        overrides ``fit`` may train on other shapes: neither is compiled ahead.
        """
        data = self.data
        if data is None or context.plan.continues is not None or self._own_fit:
            return
        trainer = trial_trainer(self.hypermodel, hp, self.seed)
        trainer.compile(data.x, data.y, batch_size=data.batch_size,
                        validation_data=data.validation_data)  # fmt: skip

    def population_error(self) -> str | None:
        """A HyperModel that overrides ``fit`` trains its own way, one trial at a time."""
        if self._own_fit:
            return (
                f"population_size > 1 trains every member with one shared fit, but "
                f"{type(self.hypermodel).__name__} overrides HyperModel.fit (e.g. to tune "
                f"batch_size); use population_size=1 with it"
            )
        return None

    def member_bytes(self) -> int | None:
        """Model state, gradients and two optimizer moments, plus activations of a batch.

        hyperflax's models allocate their space's capacity, so the model at default values
        has every member's size; activations are bounded by 64 copies of a batch of inputs.
        """
        if self.data is None or isinstance(self.data.x, dict):
            return None
        row = self.data.x[0]
        return 4 * self._state_bytes + 64 * self.data.batch_size * row.size * 4

    def start_member(self, hp: HyperParameters, context: TrialContext) -> Member:
        """The trial's model and trainer as a population member."""
        assert self.data is not None, "prepare() runs before any trial"
        trial = _start(self.hypermodel, hp, self.data, **self._start_args(context))
        return Member(trial.trainer, trial.epochs, trial.callbacks, tag=(context, trial))

    def population_data(self, member: Member) -> dict[str, Any]:
        """Every population trains on the data given to ``search``."""
        assert self.data is not None, "prepare() runs before any trial"
        return {
            "x": self.data.x,
            "y": self.data.y,
            "batch_size": self.data.batch_size,
            "validation_data": self.data.validation_data,
        }

    def complete_member(self, result: MemberResult) -> TrialOutput:
        """Save the member's checkpoints and keep its best epoch, as ``run`` does."""
        context, trial = result.member.tag
        return self._output(*_complete(trial, result.history, context.objective))

    def checkpoint(self, number: int) -> Path:
        """The checkpoint directory of trial ``number``."""
        return self.project_dir / "checkpoints" / f"trial_{number:05d}"

    def on_search_end(
        self, trials: Sequence[FrozenTrial], ranked: Sequence[FrozenTrial], exhausted: bool
    ) -> None:
        """Remove the checkpoints no later call can use (see the class docstring)."""
        kept = {t.number for t in ranked[: self.KEEP_BEST]}
        finished = (TrialState.COMPLETE, TrialState.PRUNED)
        continued = {TrialPlan.of(t).continues for t in trials if t.state in finished}
        for t in trials:
            if t.state in (TrialState.RUNNING, TrialState.WAITING):
                continue
            folder = self.checkpoint(t.number)
            if t.number not in kept:
                (folder / BEST).unlink(missing_ok=True)
            if exhausted or t.number in continued or not TrialPlan.of(t).keep_state:
                (folder / LAST).unlink(missing_ok=True)
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()

    def load_models(self, trials: Sequence[FrozenTrial]) -> list[nnx.Module]:
        """Rebuild each trial's model and load its best-epoch weights; nothing is retrained."""
        missing = [t.number for t in trials if not (self.checkpoint(t.number) / BEST).exists()]
        if missing:
            raise ValueError(
                f"the weights of trials {missing} are not kept: a finished search keeps those of "
                f"its {self.KEEP_BEST} best trials; ask for fewer models"
            )
        return [
            load_trained(
                self.hypermodel, HyperParameters(t.params), self.seed, self.checkpoint(t.number)
            )
            for t in trials
        ]

    def export(
        self,
        trial: FrozenTrial,
        path: Path,
        *,
        objective: Objective,
        example_input: Any,
        overwrite: bool,
    ) -> Path:
        """Export ``trial``'s best-epoch model as a self-contained directory."""
        from hyperflax.export import export_model

        if example_input is None:
            if self.data is None:
                raise ValueError("pass example_input= (a batch of inputs); no search ran here")
            if isinstance(self.data.x, dict):
                raise ValueError("export_best does not support dict inputs yet; x must be an array")
            example_input = self.data.x[:1]
        classifier = self.hypermodel.loss in ("cross_entropy", "binary_cross_entropy")
        metadata = {
            "task": "classification" if classifier else "regression",
            "hyperparameters": trial.params,
            "metrics": trial.user_attrs.get(keys.METRICS, {}),
            "objective": {objective.name: trial.value},
            "trial": trial.number,
        }
        (model,) = self.load_models([trial])
        return export_model(
            model, path, example_input=example_input, metadata=metadata, overwrite=overwrite,
            class_labels=trial.user_attrs.get(keys.CLASSES) if classifier else None,
        )  # fmt: skip

    def export_recipe(self) -> dict[str, Any] | None:
        """The builder's ``module:name``, one input's shape and dtype, the task and the seed."""
        if self.data is None or isinstance(self.data.x, dict):
            return None
        example = np.asarray(self.data.x[:1])
        return {
            "build": importable_name(self.hypermodel),
            "input": {"shape": list(example.shape[1:]), "dtype": example.dtype.name},
            "classifier": self.hypermodel.loss in ("cross_entropy", "binary_cross_entropy"),
            "seed": self.seed,
        }

    def export_for_tracking(self, trial: FrozenTrial, objective: Objective) -> Path | None:
        """Export the best model into the project, for the tracker to log."""
        if self.data is None:
            return None
        return self.export(
            trial,
            self.project_dir / "best_model",
            objective=objective,
            example_input=None,
            overwrite=True,
        )


@dataclass
class _Trial:
    """A trial's model, ready to train: its trainer, epochs and callbacks, and where it saves."""

    trainer: Trainer
    epochs: int
    best: BestCheckpoint
    callbacks: list[Callback]
    checkpoint: Path
    keep_state: bool


def trial_trainer(hypermodel: HyperModel, hp: HyperParameters, seed: int) -> Trainer:
    """A new model of ``hp`` and its trainer, as a trial starts them (so their programs match)."""
    model = hypermodel.build(hp, nnx.Rngs(seed))
    return Trainer(
        model, hypermodel.build_optimizer(hp), hypermodel.loss, hypermodel.metrics, seed=seed,
        precision=getattr(hypermodel, "precision", "float32"),
    )  # fmt: skip


def _start(
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
) -> _Trial:
    """Build a trial's model and trainer, continued from a ``parent`` checkpoint directory."""
    trainer = trial_trainer(hypermodel, hp, seed)
    if parent is not None:
        trainer.load_checkpoint(parent / LAST)
    best = BestCheckpoint(objective.name, mode="min" if objective.sign > 0 else "max")
    callbacks = [best, _Report(hp), *data.callbacks]
    return _Trial(trainer, epochs, best, callbacks, checkpoint, keep_state)


def _complete(
    trial: _Trial, history: History, objective: Objective
) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Save a trained trial's checkpoints; return the logs of its best epoch and its history."""
    best = trial.best
    if best.best_epoch is None:
        raise FloatingPointError(f"no epoch produced a finite {objective.name!r}")
    trial.checkpoint.mkdir(parents=True, exist_ok=True)
    best.save(trial.checkpoint / BEST)
    if trial.keep_state:
        trial.trainer.save_checkpoint(trial.checkpoint / LAST)
    at = history.epochs.index(best.best_epoch)
    best_logs = {name: values[at] for name, values in history.history.items()}
    return best_logs, {"epoch": list(history.epochs), **history.history}


def train_trial(
    hypermodel: HyperModel,
    hp: HyperParameters,
    data: FitData,
    *,
    built: Callable[[], None] | None = None,
    **start: Any,
) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Train one trial; return the logs of its best epoch by ``objective`` and its history.

    The best epoch's weights go to ``checkpoint/best.npz`` and, with ``keep_state`` (a trial a
    later one may continue), the full final training state to ``checkpoint/last.npz``; a
    ``parent`` checkpoint directory is continued from rather than training from scratch.
    ``built`` is called once the model is built, before training. ``start`` holds
    ``objective``, ``seed``, ``epochs``, ``checkpoint``, ``parent`` and ``keep_state``.
    """
    trial = _start(hypermodel, hp, data, **start)
    if built is not None:
        built()
    history = hypermodel.fit(
        hp,
        trial.trainer,
        data.x,
        data.y,
        validation_data=data.validation_data,
        epochs=trial.epochs,
        batch_size=data.batch_size,
        callbacks=trial.callbacks,
        initial_epoch=trial.trainer.epoch,
    )
    return _complete(trial, history, start["objective"])


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
