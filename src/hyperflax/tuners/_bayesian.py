"""Bayesian optimization with Optuna's TPE or Gaussian-process sampler."""

from __future__ import annotations

import importlib.util
from typing import Any, Literal, Unpack

import optuna
from optuna.samplers import BaseSampler

from hyperflax.tuners._checks import check_int
from hyperflax.tuners._tuner import Tuner, TunerOptions


class BayesianOptimization(Tuner):
    """Model-based search: TPE (default) or a Gaussian process (``sampler="gp"``).

    Args:
        hypermodel: what to tune; see :class:`Tuner`.
        sampler: ``"tpe"`` (multivariate, constant liar for parallel workers) or ``"gp"``
            (Optuna's ``GPSampler``, which needs PyTorch).
        num_initial_points: random trials before the model takes over.
        **options: the common tuner arguments of :class:`Tuner`.

    Example:
        >>> import hyperflax as hx
        >>> def f(hp):
        ...     return (hp.Float("x", -5.0, 5.0) - 1.0) ** 2
        >>> tuner = hx.tuners.BayesianOptimization(
        ...     f, objective=hx.Objective("value", "min"), max_trials=15, seed=0,
        ...     directory=getfixture("tmp_path"), verbose=0)
        >>> tuner.search()
        >>> abs(tuner.get_best_hyperparameters()[0].values["x"] - 1.0) < 1.0
        True
    """

    def __init__(
        self,
        hypermodel: Any,
        *,
        sampler: Literal["tpe", "gp"] = "tpe",
        num_initial_points: int = 10,
        **options: Unpack[TunerOptions],
    ) -> None:
        if sampler not in ("tpe", "gp"):
            raise ValueError(f"sampler must be 'tpe' or 'gp', got {sampler!r}")
        if sampler == "gp" and importlib.util.find_spec("torch") is None:
            raise ImportError(
                "sampler='gp' uses Optuna's GPSampler, which needs PyTorch: "
                "pip install torch  (or pip install 'hyperflax[gp]'); "
                "sampler='tpe' needs nothing more"
            )
        check_int("num_initial_points", num_initial_points, low=1)
        self.sampler = sampler
        self.num_initial_points = num_initial_points
        super().__init__(hypermodel, **options)

    def make_sampler(self, seed: int | None) -> BaseSampler:
        """TPE (multivariate, constant liar) or Optuna's GP sampler."""
        if self.sampler == "gp":
            return optuna.samplers.GPSampler(seed=seed, n_startup_trials=self.num_initial_points)
        return optuna.samplers.TPESampler(
            seed=seed,
            n_startup_trials=self.num_initial_points,
            multivariate=True,
            constant_liar=True,
        )
