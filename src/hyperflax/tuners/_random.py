"""Random search."""

from hyperflax.tuners._tuner import Tuner


class RandomSearch(Tuner):
    """Samples every hyperparameter independently and uniformly (log-uniformly with ``log=True``).

    Example:
        >>> import hyperflax as hx
        >>> def f(hp):
        ...     return (hp.Float("x", -5.0, 5.0) - 1.0) ** 2
        >>> tuner = hx.tuners.RandomSearch(
        ...     f, objective=hx.Objective("value", "min"), max_trials=5, seed=0,
        ...     directory=getfixture("tmp_path"), verbose=0)
        >>> tuner.search()
        >>> len(tuner.trials_dataframe())
        5
    """
