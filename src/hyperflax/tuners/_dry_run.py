"""Catch a HyperModel's mistakes before the first trial: build it once at default values.

``search`` builds the model and the optimizer at the search space's defaults, checks their
types and signatures, and traces the model abstractly on one sample of the training data
(nothing compiles). A wrong signature, a build function that returns something else than a
module, an optimizer given as a string, a loss or metric typo, a feature shape the model
cannot take or labels that do not suit the loss all stop the search here, with the fix.
"""

from __future__ import annotations

import difflib
import inspect
import logging
from typing import Any

import optax
from flax import nnx

from hyperflax.search_spaces import HyperParameters
from hyperflax.trainers import LOSSES, METRICS, Trainer
from hyperflax.tuners._hypermodel import HyperModel

logger = logging.getLogger("hyperflax")
_OPTIMIZER_FIX = (
    "pass an optax transformation or fn(hp) -> one, e.g. optimizer=lambda hp: "
    "optax.inject_hyperparams(optax.adam)(learning_rate=hp.Float('lr', 1e-4, 1e-2, log=True))"
)


def dry_run(
    hypermodel: HyperModel, x: Any, y: Any, validation_data: tuple[Any, Any] | None
) -> nnx.Module:
    """Build ``hypermodel`` at default hyperparameters and check the data against it.

    Returns:
        The model built at default values (for a memory estimate; it is never trained).

    Raises:
        TypeError: for a build function or optimizer of the wrong kind, with the fix.
        ValueError: for an unknown loss or metric name, with the closest names.
        DataError: for data the model or the loss cannot take, with the fix.
    """
    _check_signature(hypermodel)
    _check_names(hypermodel)
    if isinstance(hypermodel.optimizer, str):
        raise TypeError(f"optimizer must not be a string, got {hypermodel.optimizer!r}; "
                        f"{_OPTIMIZER_FIX}")  # fmt: skip
    hp = HyperParameters()
    model = hypermodel.build(hp, nnx.Rngs(0))
    if not isinstance(model, nnx.Module):
        raise TypeError(
            f"the build function must return a flax.nnx.Module, got {type(model).__name__} "
            f"({model!r:.80}); return the model instance, e.g. `return MyNet(..., rngs=rngs)`"
        )
    _warn_static_dropout(model, hp)
    optimizer = hypermodel.build_optimizer(hp)
    if not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(
            f"the optimizer function must return an optax transformation, got "
            f"{type(optimizer).__name__}; {_OPTIMIZER_FIX}"
        )
    trainer = Trainer(model, optimizer, hypermodel.loss, hypermodel.metrics)
    if type(hypermodel).fit is not HyperModel.fit:
        return model  # a fit of its own may transform the data before the model sees it
    trainer.check_data(x, y)
    if validation_data is not None:
        trainer.check_data(*validation_data, prefix="validation_")
    return model


def _warn_static_dropout(model: nnx.Module, hp: HyperParameters) -> None:
    """Warn when a tuned dropout rate is a Python number in the program (a compile per trial)."""
    tuned = {v for v in hp.values.values() if isinstance(v, float)}
    for path, node in nnx.iter_graph(model):
        if isinstance(node, nnx.Dropout) and node.rate in tuned:
            where = ".".join(map(str, path)) or "the model"
            logger.warning(
                "%s is a flax.nnx.Dropout whose rate comes from a hyperparameter: its rate is "
                "part of the compiled program, so every trial compiles again. Use "
                "hx.models.Dropout(rate, rngs=rngs), whose rate is data (one program for all)",
                where,
            )
            return


def _check_signature(hypermodel: HyperModel) -> None:
    build = hypermodel.build_model
    if build is None:  # a subclass overrides build(self, hp, rngs)
        return
    try:
        inspect.signature(build).bind(HyperParameters(), nnx.Rngs(0))
    except TypeError:
        raise TypeError(
            f"the build function must take (hp, rngs), got {build.__name__}"
            f"{inspect.signature(build)}; write `def build(hp, rngs):` and pass `rngs=rngs` to "
            f"the model (a Keras-style build(hp) has no rngs: Flax NNX layers need them)"
        ) from None
    except ValueError:  # no signature to inspect (a builtin): let the dry build tell
        return


def _check_names(hypermodel: HyperModel) -> None:
    named: list[tuple[str, Any, Any]] = [("loss", hypermodel.loss, LOSSES)]
    named += [("metrics", m, METRICS) for m in hypermodel.metrics]
    for argument, name, known in named:
        if isinstance(name, str) and name not in known:
            close = difflib.get_close_matches(name, list(known), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ValueError(
                f"{argument} {name!r} is not known; {hint}choose one of {sorted(known)} or pass "
                f"a callable"
            )
