"""Define-by-run hyperparameters: ordinary Python asks for values by name."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import optuna

from hyperflax.search_spaces._parameters import (
    Choice,
    Float,
    Int,
    Parameter,
    SearchSpaceError,
    Storable,
    make_choice,
)

Reporter = Callable[[float | Mapping[str, float], int], None]


class TunedInt(int):
    """An ``int`` drawn from a search space that knows the space's bounds ``low`` and ``high``.

    It behaves as the plain int it is (arithmetic on it gives plain ints); models read
    ``high`` to size themselves for a whole range of values.

    Example:
        >>> n = TunedInt(64, 32, 256)
        >>> n + 1, n.low, n.high
        (65, 32, 256)
    """

    low: int
    high: int

    def __new__(cls, value: int, low: int, high: int) -> TunedInt:
        """An int of ``value`` from the range ``[low, high]``."""
        obj = super().__new__(cls, value)
        obj.low, obj.high = low, high
        return obj

    def __reduce__(self) -> tuple[type[TunedInt], tuple[int, int, int]]:
        return TunedInt, (int(self), self.low, self.high)


class HyperParameters:
    """The hyperparameters of one trial, asked for by name where they are used.

    Inside a search every call samples from the tuner's Optuna trial. Outside one it returns
    the parameter's default (or ``low`` / the first choice), or the value given to the
    constructor. Asking twice for a name returns the same value; redefining a name with a
    different type or range raises :class:`SearchSpaceError`. Conditional spaces are plain
    ``if`` statements.

    Args:
        values: fixed values by name, used instead of defaults outside a search.

    Example:
        >>> import hyperflax as hx
        >>> hp = hx.HyperParameters({"units": 64})
        >>> hp.Int("units", 32, 256, log=True), hp.Float("lr", 1e-4, 1e-2, log=True)
        (64, 0.0001)
        >>> hp.values
        {'units': 64, 'lr': 0.0001}
    """

    def __init__(self, values: Mapping[str, Storable] | None = None) -> None:
        self._given: dict[str, Storable] = dict(values or {})
        self._space: dict[str, Parameter] = {}
        self._values: dict[str, Any] = dict(self._given)
        self._trial: optuna.Trial | None = None
        self._reporter: Reporter | None = None
        self._finite = False

    @classmethod
    def _for_trial(
        cls, trial: optuna.Trial, reporter: Reporter | None = None, *, finite: bool = False
    ) -> HyperParameters:
        hp = cls()
        hp._trial = trial
        hp._reporter = reporter
        hp._finite = finite
        return hp

    # -- definitions -------------------------------------------------------------------------

    def Int(
        self,
        name: str,
        low: int,
        high: int,
        *,
        step: int = 1,
        log: bool = False,
        default: int | None = None,
    ) -> int:
        """An integer in ``[low, high]``, optionally on a ``step`` grid or a log scale.

        The value is a :class:`TunedInt`: an ``int`` that also knows ``low`` and ``high``, so a
        model given it can allocate for the whole range (``hx.models.MLP`` does, and compiles
        one program for every width of the range).

        Example:
            >>> import hyperflax as hx
            >>> units = hx.HyperParameters().Int("units", 32, 256, default=64)
            >>> units, units.high
            (64, 256)
        """
        return TunedInt(self._ask(Int(name, low, high, step, log, default)), low, high)

    def Float(
        self,
        name: str,
        low: float,
        high: float,
        *,
        step: float | None = None,
        log: bool = False,
        default: float | None = None,
    ) -> float:
        """A float in ``[low, high]``, optionally on a ``step`` grid or a log scale.

        Example:
            >>> import hyperflax as hx
            >>> hx.HyperParameters().Float("dropout", 0.0, 0.5, default=0.1)
            0.1
        """
        return float(self._ask(Float(name, low, high, step, log, default)))

    def Choice(self, name: str, values: Sequence[Storable], *, default: Storable = None) -> Any:
        """One of ``values`` (None, bool, int, float or str).

        Example:
            >>> import hyperflax as hx
            >>> hx.HyperParameters().Choice("activation", ["relu", "gelu"])
            'relu'
        """
        return self._ask(make_choice(name, values, default))

    def Boolean(self, name: str, *, default: bool = False) -> bool:
        """``True`` or ``False``.

        Example:
            >>> import hyperflax as hx
            >>> hx.HyperParameters().Boolean("batch_norm")
            False
        """
        return bool(self._ask(Choice(name, (False, True), default)))

    def Fixed(self, name: str, value: Storable) -> Any:
        """A constant that is recorded with the trial like any other hyperparameter.

        Example:
            >>> import hyperflax as hx
            >>> hx.HyperParameters().Fixed("optimizer", "adamw")
            'adamw'
        """
        return self._ask(Choice(name, (value,)))

    def _ask(self, param: Parameter) -> Any:
        if not isinstance(param.name, str) or not param.name:
            raise SearchSpaceError(
                f"hyperparameter name must be a non-empty str, got {param.name!r}"
            )
        known = self._space.get(param.name)
        if known is not None:
            if known != param:
                raise SearchSpaceError(
                    f"hyperparameter {param.name!r} is already defined as {known!r}; it cannot be "
                    f"redefined as {param!r}. Use one definition, or a different name."
                )
            return self._values[param.name]
        if self._finite:
            param.grid()  # a grid search needs every parameter to be finite
        if self._trial is not None:
            value = _suggest(self._trial, param)
        elif param.name in self._given:
            value = self._given[param.name]
            param.validate(value, what="the given value")
        else:
            value = param.initial
        self._space[param.name] = param
        self._values[param.name] = value
        return value

    # -- inspection --------------------------------------------------------------------------

    @property
    def values(self) -> dict[str, Any]:
        """The value of every hyperparameter asked for so far, in the order asked."""
        return dict(self._values)

    @property
    def trial_number(self) -> int | None:
        """The number of the trial these values belong to, or ``None`` outside a search.

        Use it to name files a trial writes (predictions, artifacts) so they can be found again.

        Example:
            >>> import hyperflax as hx
            >>> hx.HyperParameters().trial_number is None
            True
        """
        return None if self._trial is None else self._trial.number

    @property
    def space(self) -> dict[str, Parameter]:
        """The definition of every hyperparameter asked for so far."""
        return dict(self._space)

    def get(self, name: str) -> Any:
        """The value of an already defined hyperparameter.

        Raises:
            KeyError: naming the hyperparameters that are defined.
        """
        if name not in self._values:
            raise KeyError(f"hyperparameter {name!r} is not defined; defined: {list(self._values)}")
        return self._values[name]

    def __getitem__(self, name: str) -> Any:
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def __repr__(self) -> str:
        return f"HyperParameters({self._values!r})"

    # -- reporting ---------------------------------------------------------------------------

    def report(self, value: float | Mapping[str, float], step: int) -> None:
        """Report an intermediate result (e.g. after each epoch) to the running search.

        Inside a search this lets a pruner or Hyperband stop the trial early: it raises
        :class:`optuna.TrialPruned` (or a budget signal that the tuner handles), so call it
        where stopping is safe. Outside a search it does nothing.

        Args:
            value: the objective's value, or a dict of metrics that contains it.
            step: the step (epoch) the value belongs to, counted from 0.

        Example:
            >>> import hyperflax as hx
            >>> hp = hx.HyperParameters()
            >>> for epoch in range(3):
            ...     hp.report({"val_loss": 1.0 / (epoch + 1)}, step=epoch)
        """
        if self._reporter is not None:
            self._reporter(value, step)


def _suggest(trial: optuna.Trial, param: Parameter) -> Any:
    if isinstance(param, Int):
        return trial.suggest_int(param.name, param.low, param.high, step=param.step, log=param.log)
    if isinstance(param, Float):
        return trial.suggest_float(
            param.name, param.low, param.high, step=param.step, log=param.log
        )
    return trial.suggest_categorical(param.name, param.values)
