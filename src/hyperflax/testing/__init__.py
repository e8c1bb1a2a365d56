"""Test functions, a generated image task, and conformance suites for your tuners and trackers.

The suites are pytest test classes (as ``optuna.testing`` ships its own): subclass one in a
test module whose name starts with ``test_``, name the subclass ``Test...``, and say how to
build what is tested; pytest then runs every behaviour hyperflax's own tuners and trackers
pass. They need ``pytest`` (``pip install pytest``), which is imported only when a suite is.

Example:
    >>> import hyperflax as hx
    >>> from hyperflax.testing import TunerConformance
    >>> class TestMyTuner(TunerConformance):
    ...     def make_tuner(self, fn, **options):
    ...         return hx.tuners.RandomSearch(fn, **options)
"""

import importlib
from typing import TYPE_CHECKING, Any

from hyperflax.testing._functions import BRANIN_MIN as BRANIN_MIN
from hyperflax.testing._functions import HARTMANN6_MIN as HARTMANN6_MIN
from hyperflax.testing._functions import branin as branin
from hyperflax.testing._functions import hartmann6 as hartmann6
from hyperflax.testing._images import make_shapes as make_shapes

if TYPE_CHECKING:
    from hyperflax.testing._tracker_suite import TrackerConformance as TrackerConformance
    from hyperflax.testing._tuner_suite import TunerConformance as TunerConformance

_SUITES = {
    "TrackerConformance": "hyperflax.testing._tracker_suite",
    "TunerConformance": "hyperflax.testing._tuner_suite",
}

__all__ = [
    "BRANIN_MIN",
    "HARTMANN6_MIN",
    "TrackerConformance",
    "TunerConformance",
    "branin",
    "hartmann6",
    "make_shapes",
]


def __getattr__(name: str) -> Any:
    if name in _SUITES:
        try:
            module = importlib.import_module(_SUITES[name])
        except ModuleNotFoundError as error:
            if error.name != "pytest":
                raise
            raise ImportError(
                f"hyperflax.testing.{name} is a pytest suite and needs pytest: pip install pytest"
            ) from error
        return getattr(module, name)
    raise AttributeError(f"module 'hyperflax.testing' has no attribute {name!r}")
