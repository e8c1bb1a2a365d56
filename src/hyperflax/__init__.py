"""hyperflax: hyperparameter tuning and AutoML for JAX.

Search spaces and tuners run on Optuna; JAX-heavy subpackages (``trainers``, ``models``) are
imported on first use, so ``import hyperflax`` stays light.

Example:
    >>> import hyperflax as hx
    >>> hx.HyperParameters().Int("units", 32, 256)
    32
"""

import importlib
from typing import TYPE_CHECKING, Any

from hyperflax import errors as errors
from hyperflax import search_spaces as search_spaces
from hyperflax import tuners as tuners
from hyperflax._errors import FatalError as FatalError
from hyperflax._errors import HyperflaxError as HyperflaxError
from hyperflax._version import __version__ as __version__
from hyperflax.search_spaces import HyperParameters as HyperParameters
from hyperflax.search_spaces import SearchSpace as SearchSpace
from hyperflax.search_spaces import SearchSpaceError as SearchSpaceError
from hyperflax.tuners import Objective as Objective

if TYPE_CHECKING:
    from hyperflax import automl as automl
    from hyperflax import export as export
    from hyperflax import models as models
    from hyperflax import tracking as tracking
    from hyperflax import trainers as trainers
    from hyperflax.export import export_model as export_model
    from hyperflax.export import load_model as load_model
    from hyperflax.export import quantize as quantize
    from hyperflax.tuners._hypermodel import HyperModel as HyperModel

_LAZY_MODULES = {"automl", "export", "models", "tracking", "trainers"}
_LAZY_NAMES = {
    "HyperModel": "hyperflax.tuners._hypermodel",
    "export_model": "hyperflax.export",
    "load_model": "hyperflax.export",
    "quantize": "hyperflax.export",
}

__all__ = [
    "FatalError",
    "HyperModel",
    "HyperflaxError",
    "HyperParameters",
    "Objective",
    "SearchSpace",
    "SearchSpaceError",
    "__version__",
    "automl",
    "errors",
    "export",
    "export_model",
    "load_model",
    "models",
    "quantize",
    "search_spaces",
    "tracking",
    "trainers",
    "tuners",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY_MODULES:
        return importlib.import_module(f"hyperflax.{name}")
    if name in _LAZY_NAMES:
        return getattr(importlib.import_module(_LAZY_NAMES[name]), name)
    raise AttributeError(f"module 'hyperflax' has no attribute {name!r}")
