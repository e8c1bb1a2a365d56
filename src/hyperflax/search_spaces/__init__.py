"""Search spaces: define-by-run :class:`HyperParameters` and declarative :class:`SearchSpace`.

This package never imports JAX.
"""

from hyperflax.search_spaces._hyperparameters import HyperParameters as HyperParameters
from hyperflax.search_spaces._hyperparameters import TunedInt as TunedInt
from hyperflax.search_spaces._parameters import Choice as Choice
from hyperflax.search_spaces._parameters import Float as Float
from hyperflax.search_spaces._parameters import Int as Int
from hyperflax.search_spaces._parameters import SearchSpaceError as SearchSpaceError
from hyperflax.search_spaces._space import SearchSpace as SearchSpace

__all__ = [
    "Choice",
    "Float",
    "HyperParameters",
    "Int",
    "SearchSpace",
    "SearchSpaceError",
    "TunedInt",
]
