"""A declarative search space, written as a dict or a YAML file."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import yaml

from hyperflax.search_spaces._hyperparameters import HyperParameters
from hyperflax.search_spaces._parameters import (
    Choice,
    Float,
    Int,
    Parameter,
    SearchSpaceError,
    make_choice,
)

_FIELDS: dict[str, tuple[set[str], set[str]]] = {
    # type: (required keys, optional keys)
    "int": ({"low", "high"}, {"step", "log", "default"}),
    "float": ({"low", "high"}, {"step", "log", "default"}),
    "choice": ({"values"}, {"default"}),
    "boolean": (set(), {"default"}),
    "fixed": ({"value"}, set()),
}


class SearchSpace:
    """A search space declared as data: ``{name: spec}`` from a dict or a YAML file.

    Each spec is a mapping with a ``type`` (``int``, ``float``, ``choice``, ``boolean``,
    ``fixed``) and the same arguments as the matching :class:`HyperParameters` method. A list
    is shorthand for a choice and a scalar for a fixed value. Every definition is validated
    when the space is built.

    Args:
        spec: the parameters by name.

    Example:
        >>> import hyperflax as hx
        >>> space = hx.SearchSpace({
        ...     "lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
        ...     "units": {"type": "int", "low": 32, "high": 256, "step": 32},
        ...     "activation": ["relu", "gelu"],
        ... })
        >>> space.sample(hx.HyperParameters())
        {'lr': 0.0001, 'units': 32, 'activation': 'relu'}
    """

    def __init__(self, spec: Mapping[str, Any]) -> None:
        if not isinstance(spec, Mapping) or not spec:
            raise SearchSpaceError(
                f"a search space must be a non-empty mapping of name to spec, got {spec!r}"
            )
        self.parameters: dict[str, Parameter] = {
            str(name): _parse(str(name), entry) for name, entry in spec.items()
        }

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str]) -> SearchSpace:
        """Read a space from a YAML file holding ``{name: spec}``.

        Example:
            >>> import hyperflax as hx, pathlib, tempfile
            >>> f = pathlib.Path(tempfile.mkdtemp()) / "space.yaml"
            >>> _ = f.write_text("units: {type: int, low: 32, high: 256, log: true}")
            >>> hx.SearchSpace.from_yaml(f).sample(hx.HyperParameters())
            {'units': 32}
        """
        with open(path, encoding="utf-8") as f:
            return cls(yaml.safe_load(f) or {})

    def sample(self, hp: HyperParameters) -> dict[str, Any]:
        """Ask ``hp`` for every parameter of the space and return the values by name."""
        return {name: _ask(hp, param) for name, param in self.parameters.items()}

    def __repr__(self) -> str:
        return f"SearchSpace({list(self.parameters.values())!r})"


def _ask(hp: HyperParameters, param: Parameter) -> Any:
    if isinstance(param, Int):
        return hp.Int(
            param.name, param.low, param.high, step=param.step, log=param.log, default=param.default
        )
    if isinstance(param, Float):
        return hp.Float(
            param.name, param.low, param.high, step=param.step, log=param.log, default=param.default
        )
    return hp.Choice(param.name, param.values, default=param.default)


def _parse(name: str, entry: Any) -> Parameter:
    if isinstance(entry, list | tuple):
        return make_choice(name, entry)
    if not isinstance(entry, Mapping):
        return Choice(name, (entry,))
    kind = entry.get("type")
    if kind not in _FIELDS:
        raise SearchSpaceError(
            f"hyperparameter {name!r}: 'type' must be one of {sorted(_FIELDS)}, got {kind!r}"
        )
    required, optional = _FIELDS[kind]
    keys = set(entry) - {"type"}
    if missing := required - keys:
        raise SearchSpaceError(f"hyperparameter {name!r} of type {kind!r} needs {sorted(missing)}")
    if unknown := keys - required - optional:
        raise SearchSpaceError(
            f"hyperparameter {name!r} of type {kind!r} does not take {sorted(unknown)}; "
            f"it takes {sorted(required | optional)}"
        )
    args = {
        k: _number(v) if kind == "float" and k != "log" else v
        for k, v in entry.items()
        if k != "type"
    }
    if kind == "int":
        return Int(name, **args)
    if kind == "float":
        return Float(name, **args)
    if kind == "choice":
        return make_choice(name, args["values"], args.get("default"))
    if kind == "boolean":
        return Choice(name, (False, True), args.get("default", False))
    return Choice(name, (args["value"],))


def _number(value: Any) -> Any:
    """YAML 1.1 reads ``1e-4`` as a string; accept such numbers for float fields."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value
