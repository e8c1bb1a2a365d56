"""Experiment tracking: the :class:`Tracker` protocol a tuner calls, and :class:`MLflowTracker`.

Nothing here imports JAX, Flax or the tuners: a tracker receives Optuna objects and plain data.
MLflow is imported lazily, so ``import hyperflax.tracking`` is cheap.
"""

from hyperflax.tracking._mlflow import MLflowTracker as MLflowTracker
from hyperflax.tracking._tracker import Tracker as Tracker

__all__ = [
    "MLflowTracker",
    "Tracker",
]
