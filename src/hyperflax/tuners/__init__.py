"""Tuners: random, Bayesian, grid and Hyperband search over an Optuna study."""

from typing import TYPE_CHECKING

from hyperflax._errors import SearchFailedError as SearchFailedError
from hyperflax.tuners._bayesian import BayesianOptimization as BayesianOptimization
from hyperflax.tuners._grid import GridSearch as GridSearch
from hyperflax.tuners._hyperband import Hyperband as Hyperband
from hyperflax.tuners._hyperband import schedule as hyperband_schedule
from hyperflax.tuners._objective import Objective as Objective
from hyperflax.tuners._objective import as_objective as as_objective
from hyperflax.tuners._plan import TrialPlan as TrialPlan
from hyperflax.tuners._pruners import make_pruner as make_pruner
from hyperflax.tuners._random import RandomSearch as RandomSearch
from hyperflax.tuners._runner import Runner as Runner
from hyperflax.tuners._runner import SearchArgs as SearchArgs
from hyperflax.tuners._runner import TrialContext as TrialContext
from hyperflax.tuners._runner import TrialOutput as TrialOutput
from hyperflax.tuners._tuner import Tuner as Tuner
from hyperflax.tuners._tuner import TunerOptions as TunerOptions

if TYPE_CHECKING:  # imported on first use below: it imports the trainers (and Flax)
    from hyperflax.tuners._populations import PopulationRunner as PopulationRunner

__all__ = [
    "BayesianOptimization",
    "GridSearch",
    "Hyperband",
    "Objective",
    "PopulationRunner",
    "RandomSearch",
    "Runner",
    "SearchArgs",
    "SearchFailedError",
    "TrialContext",
    "TrialOutput",
    "TrialPlan",
    "Tuner",
    "TunerOptions",
    "as_objective",
    "hyperband_schedule",
    "make_pruner",
]


def __getattr__(name: str) -> object:
    """``PopulationRunner`` imports the trainers (and Flax), so only when it is asked for."""
    if name == "PopulationRunner":
        from hyperflax.tuners._populations import PopulationRunner

        return PopulationRunner
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
