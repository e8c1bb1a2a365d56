"""Typed parameter definitions: validation, defaults and grids."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from hyperflax._errors import SearchSpaceError

Storable: TypeAlias = bool | int | float | str | None
_STORABLE = (type(None), bool, int, float, str)


def _fail(name: str, rule: str, value: Any) -> SearchSpaceError:
    return SearchSpaceError(f"hyperparameter {name!r}: {rule}, got {value!r}")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class Int:
    """An integer in ``[low, high]`` (both included) on a ``step`` grid or log scale."""

    name: str
    low: int
    high: int
    step: int = 1
    log: bool = False
    default: int | None = None

    def __post_init__(self) -> None:
        for arg in ("low", "high", "step"):
            value = getattr(self, arg)
            if not isinstance(value, int) or isinstance(value, bool):
                raise _fail(self.name, f"{arg} must be an int", value)
        if self.low > self.high:
            raise _fail(self.name, f"low must be <= high ({self.high})", self.low)
        if self.step < 1:
            raise _fail(self.name, "step must be >= 1", self.step)
        if self.log and self.low <= 0:
            raise _fail(self.name, "log=True needs low > 0", self.low)
        if self.log and self.step != 1:
            raise _fail(self.name, "log=True cannot be combined with step != 1", self.step)
        if (self.high - self.low) % self.step:
            raise _fail(
                self.name,
                f"step must divide high - low = {self.high - self.low} "
                f"(e.g. high={self.low + (self.high - self.low) // self.step * self.step})",
                self.step,
            )
        if self.default is not None:
            self.validate(self.default, what="default")

    @property
    def initial(self) -> int:
        """The value used outside a search: ``default``, else ``low``."""
        return self.low if self.default is None else self.default

    def validate(self, value: Any, *, what: str = "value") -> None:
        """Raise :class:`SearchSpaceError` unless ``value`` belongs to this parameter."""
        ok = isinstance(value, int) and not isinstance(value, bool)
        ok = ok and self.low <= value <= self.high and (value - self.low) % self.step == 0
        if not ok:
            raise _fail(
                self.name,
                f"{what} must be an int in [{self.low}, {self.high}] on step {self.step}",
                value,
            )

    def grid(self) -> list[Any]:
        """Every value, in increasing order."""
        return list(range(self.low, self.high + 1, self.step))


@dataclass(frozen=True)
class Float:
    """A float in ``[low, high]``, uniform, on a ``step`` grid, or on a log scale."""

    name: str
    low: float
    high: float
    step: float | None = None
    log: bool = False
    default: float | None = None

    def __post_init__(self) -> None:
        for arg in ("low", "high"):
            value = getattr(self, arg)
            if not _is_number(value) or not math.isfinite(value):
                raise _fail(self.name, f"{arg} must be a finite number", value)
        if self.low > self.high:
            raise _fail(self.name, f"low must be <= high ({self.high})", self.low)
        if self.log and self.low <= 0:
            raise _fail(self.name, "log=True needs low > 0", self.low)
        if self.step is not None:
            if not _is_number(self.step) or self.step <= 0:
                raise _fail(self.name, "step must be a number > 0", self.step)
            if self.log:
                raise _fail(self.name, "log=True cannot be combined with a step", self.step)
            n = (self.high - self.low) / self.step
            if abs(n - round(n)) > 1e-8 * max(1.0, abs(n)):
                raise _fail(
                    self.name, f"step must divide high - low = {self.high - self.low}", self.step
                )
        if self.default is not None:
            self.validate(self.default, what="default")

    @property
    def initial(self) -> float:
        """The value used outside a search: ``default``, else ``low``."""
        return float(self.low if self.default is None else self.default)

    def validate(self, value: Any, *, what: str = "value") -> None:
        """Raise :class:`SearchSpaceError` unless ``value`` belongs to this parameter."""
        if not (_is_number(value) and self.low <= value <= self.high):
            raise _fail(self.name, f"{what} must be a number in [{self.low}, {self.high}]", value)

    def grid(self) -> list[Any]:
        """Every value on the step grid; a float range without a step has no grid."""
        if self.step is None:
            raise _fail(
                self.name,
                "a grid search needs a finite space; give Float a step= or use Choice",
                "Float without step",
            )
        n = round((self.high - self.low) / self.step)
        return [self.low + i * self.step for i in range(n + 1)]


@dataclass(frozen=True)
class Choice:
    """One of a finite list of storable values (None, bool, int, float, str)."""

    name: str
    values: tuple[Storable, ...]
    default: Storable = None

    def __post_init__(self) -> None:
        if not self.values:
            raise _fail(self.name, "values must be a non-empty sequence", list(self.values))
        for value in self.values:
            if not isinstance(value, _STORABLE):
                raise _fail(
                    self.name,
                    "choice values must be None, bool, int, float or str so the study can store "
                    "them; choose a name and map it to the object in your code",
                    value,
                )
        if len(set(map(repr, self.values))) != len(self.values):
            raise _fail(self.name, "values must be distinct", list(self.values))
        if self.default is not None:
            self.validate(self.default, what="default")

    @property
    def initial(self) -> Storable:
        """The value used outside a search: ``default``, else the first value."""
        return self.values[0] if self.default is None else self.default

    def validate(self, value: Any, *, what: str = "value") -> None:
        """Raise :class:`SearchSpaceError` unless ``value`` is one of the choices."""
        if not any(type(value) is type(v) and value == v for v in self.values):
            raise _fail(self.name, f"{what} must be one of {list(self.values)}", value)

    def grid(self) -> list[Any]:
        """Every choice, in the given order."""
        return list(self.values)


Parameter: TypeAlias = Int | Float | Choice


def make_choice(name: str, values: Sequence[Any], default: Any = None) -> Choice:
    """Build a :class:`Choice`, rejecting strings and other non-sequences as ``values``."""
    if isinstance(values, str | bytes) or not isinstance(values, Sequence):
        raise _fail(name, "values must be a list or tuple of choices", values)
    return Choice(name, tuple(values), default)
