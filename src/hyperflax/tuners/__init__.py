"""Tuners: random, Bayesian, grid and Hyperband search over an Optuna study."""

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
from hyperflax.tuners._tuner import Tuner as Tuner
from hyperflax.tuners._tuner import TunerOptions as TunerOptions

__all__ = [
    "BayesianOptimization",
    "GridSearch",
    "Hyperband",
    "Objective",
    "RandomSearch",
    "SearchFailedError",
    "TrialPlan",
    "Tuner",
    "TunerOptions",
    "as_objective",
    "hyperband_schedule",
    "make_pruner",
]
