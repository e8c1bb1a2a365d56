"""HyperModel: how a trial builds, compiles and trains a Flax NNX model from its hyperparameters.

This module imports Flax; ``hyperflax.tuners`` loads it only when a HyperModel is used, so
``import hyperflax`` stays free of Flax.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeAlias

import optax
from flax import nnx

from hyperflax.search_spaces import HyperParameters
from hyperflax.trainers import Callback, History, Trainer

BuildFn: TypeAlias = Callable[[HyperParameters, nnx.Rngs], nnx.Module]
OptimizerSpec: TypeAlias = (
    optax.GradientTransformation | Callable[[HyperParameters], optax.GradientTransformation]
)


class HyperModel:
    """A model family: ``build_model(hp, rngs)``, an optimizer, a loss and metrics.

    Use it directly with a build function, or subclass it and override :meth:`build` (the
    architecture) and :meth:`fit` (e.g. to tune the batch size or the number of epochs).
    Numeric optimizer hyperparameters should go through ``optax.inject_hyperparams`` so that
    trials sharing an architecture share one compiled program.

    Args:
        build_model: ``fn(hp, rngs) -> nnx.Module``; ``None`` when a subclass overrides ``build``.
        optimizer: an optax transformation, or ``fn(hp) -> optax transformation``.
        loss: a loss name of :class:`hyperflax.trainers.Trainer` or a callable.
        metrics: metric names or callables.
        precision: the trainer's ``"float32"``, or ``"bfloat16"`` for bf16 forward and backward
            passes with float32 parameters.

    Example:
        >>> import hyperflax as hx, optax
        >>> def build(hp, rngs):
        ...     return hx.models.MLP(64, 10, [hp.Int("units", 32, 256, log=True)], rngs=rngs)
        >>> hypermodel = hx.HyperModel(
        ...     build,
        ...     optimizer=lambda hp: optax.inject_hyperparams(optax.adam)(
        ...         learning_rate=hp.Float("lr", 1e-4, 1e-2, log=True)),
        ...     loss="cross_entropy", metrics=["accuracy"])
    """

    def __init__(
        self,
        build_model: BuildFn | None = None,
        optimizer: OptimizerSpec | None = None,
        loss: Any = "cross_entropy",
        metrics: Sequence[Any] = (),
        precision: str = "float32",
    ) -> None:
        if build_model is not None and not callable(build_model):
            raise TypeError(f"build_model must be a callable fn(hp, rngs), got {build_model!r}")
        if build_model is None and type(self).build is HyperModel.build:
            raise TypeError(
                "pass build_model=fn(hp, rngs), or subclass HyperModel and override build"
            )
        self.build_model = build_model
        self.optimizer = optimizer
        self.loss = loss
        self.metrics = list(metrics)
        self.precision = precision

    def build(self, hp: HyperParameters, rngs: nnx.Rngs) -> nnx.Module:
        """The model for ``hp``; by default ``build_model(hp, rngs)``."""
        assert self.build_model is not None
        return self.build_model(hp, rngs)

    def build_optimizer(self, hp: HyperParameters) -> optax.GradientTransformation:
        """The optimizer for ``hp``; by default Adam at 1e-3 (as injected hyperparameters)."""
        if self.optimizer is None:
            return optax.inject_hyperparams(optax.adam)(learning_rate=1e-3)
        if isinstance(self.optimizer, optax.GradientTransformation):
            return self.optimizer
        return self.optimizer(hp)

    def fit(
        self,
        hp: HyperParameters,
        trainer: Trainer,
        x: Any,
        y: Any,
        *,
        validation_data: tuple[Any, Any] | None,
        epochs: int,
        batch_size: int,
        callbacks: Sequence[Callback],
        initial_epoch: int = 0,
    ) -> History:
        """Train one trial; override to tune ``batch_size`` or ``epochs`` through ``hp``.

        Example:
            >>> class TunedBatch(HyperModel):
            ...     def fit(self, hp, trainer, x, y, *, batch_size, **kwargs):
            ...         return trainer.fit(
            ...             x, y, batch_size=hp.Choice("batch_size", [32, 64]), **kwargs)
        """
        return trainer.fit(
            x,
            y,
            validation_data=validation_data,
            epochs=epochs,
            batch_size=batch_size,
            callbacks=callbacks,
            initial_epoch=initial_epoch,
        )
