"""The YAML config of ``hyperflax tune`` and ``hyperflax worker``: a tuner and its search data."""

from __future__ import annotations

import functools
import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from hyperflax import tuners
from hyperflax.search_spaces import HyperParameters, SearchSpace
from hyperflax.tuners import Objective

TUNERS: dict[str, type[tuners.Tuner]] = {
    "random": tuners.RandomSearch,
    "bayesian": tuners.BayesianOptimization,
    "grid": tuners.GridSearch,
    "hyperband": tuners.Hyperband,
}
#: Keys that describe the search itself; the rest are the tuner's arguments of the same names.
_OWN_KEYS = {"function", "hypermodel", "data", "search_args", "space", "tuner", "tuner_args"}
_OWN_KEYS |= {"objective", "tracking_uri"}
_TUNER_KEYS = {"max_trials", "time_limit", "seed", "directory", "project_name", "storage"}
_TUNER_KEYS |= {"pruner", "overwrite", "population_size", "compile_ahead"}
KEYS = _OWN_KEYS | _TUNER_KEYS
HELP = """\
CONFIG.yaml keys (function or hypermodel is required):
  function      module:name of a function fn(hp) -> float | dict[str, float], the
                module looked up beside CONFIG.yaml; a float it returns is the objective
  space         {name: spec, ...}, read by fn as hp["name"]; a spec is
                {type: int | float, low: L, high: H, step: S, log: true, default: D},
                {type: choice, values: [...], default: D}, {type: boolean, default: D},
                {type: fixed, value: V}, a list (a choice) or a scalar (a fixed value)
  hypermodel    module:name of a hx.HyperModel to train instead of a function
  data          module:name of a function () -> (x, y) or a dict of search() arguments
                (x, y, validation_data, ...): the data the hypermodel trains on
  search_args   further search() arguments, e.g. {epochs: 10, batch_size: 64,
                validation_split: 0.2}
  tuner         random | bayesian | grid | hyperband (default bayesian)
  tuner_args    further arguments of that tuner, e.g. {sampler: gp} for bayesian or
                {max_epochs: 27, factor: 3} for hyperband
  objective     a metric name (default val_loss) or {name: N, direction: min | max}
  tracking_uri  the MLflow tracking URI (http://host:5000, sqlite:///mlflow.db) or none;
                default: MLFLOW_TRACKING_URI, else a store in the project directory
  max_trials, time_limit, seed, directory, project_name, storage, pruner, overwrite,
  population_size, compile_ahead
                the tuner arguments of the same names; several workers share a study
                through storage (sqlite:///..., journal:///..., postgresql+psycopg://...)

example (examples/quadratic_config.yaml):
  function: quadratic:objective
  tuner: bayesian
  objective: {name: value, direction: min}
  max_trials: 20
  space:
    x: {type: float, low: -5.0, high: 5.0}
    k: {type: choice, values: [1, 2, 3]}
"""


def config_error(path: Path, problem: object) -> SystemExit:
    """Exit with one line: the config file, then the problem with its whitespace collapsed."""
    return SystemExit(f"{path}: {' '.join(str(problem).split())}")


def load(path: Path) -> tuple[tuners.Tuner, dict[str, Any]]:
    """The tuner ``path`` describes and the keyword arguments of its ``search``.

    Any mistake in the file (an unknown key, a bad tuner, search space or argument, a module
    that cannot be imported, data of the wrong kind) exits with one line naming the file.
    """
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as e:
        raise config_error(path, f"cannot read the config: {e}") from e
    if not isinstance(config, dict) or ("function" in config) == ("hypermodel" in config):
        raise config_error(
            path, "a config needs exactly one of 'function: module:name' or 'hypermodel: ...'"
        )
    if unknown := set(config) - KEYS:
        raise config_error(path, f"unknown keys {sorted(unknown)}; known: {sorted(KEYS)}")
    kind = config.pop("tuner", "bayesian")
    if not isinstance(kind, str) or kind not in TUNERS:
        raise config_error(path, f"tuner must be one of {sorted(TUNERS)}, got {kind!r}")
    try:
        tuner_args = _mapping(config, "tuner_args")
        search_args = _mapping(config, "search_args")
        objective = config.pop("objective", "val_loss")
        if isinstance(objective, dict):
            objective = Objective(**objective)
        tracker = _tracker(config.pop("tracking_uri", ""))
        target, data = _search_target(config, path.parent)
        arguments = {**tuner_args, **config, "tracker": tracker}
        return TUNERS[kind](target, objective=objective, **arguments), {**data, **search_args}
    except (ImportError, ValueError, TypeError) as e:  # SearchSpaceError is a ValueError
        raise config_error(path, e) from e


def _mapping(config: dict[str, Any], key: str) -> dict[str, Any]:
    value = config.pop(key, None) or {}
    if not isinstance(value, dict):
        raise ValueError(f"{key} must be a mapping, got {value!r}")
    return value


def _tracker(uri: object) -> Any:
    """``tracking_uri``: ``"mlflow"`` (the tuner's default store), ``None`` (off) or a tracker."""
    if uri == "":
        return "mlflow"
    if uri is None or str(uri).lower() == "none":
        return None
    if not isinstance(uri, str):
        raise ValueError(f"tracking_uri must be an MLflow URI or none, got {uri!r}")
    from hyperflax.tracking import MLflowTracker

    return MLflowTracker(uri)


def _search_target(config: dict[str, Any], base: Path) -> tuple[Any, dict[str, Any]]:
    """What the tuner searches over (a function or a HyperModel), and the data it trains on."""
    space = SearchSpace(config.pop("space")) if "space" in config else None
    data_spec = config.pop("data", None)
    if "function" in config:
        if data_spec is not None:
            raise ValueError("data is for a hypermodel; a function loads its own data")
        return _with_space(load_object(str(config.pop("function")), base), space), {}
    from hyperflax.tuners._hypermodel import HyperModel

    spec = str(config.pop("hypermodel"))
    hypermodel = load_object(spec, base)
    if not isinstance(hypermodel, HyperModel):
        raise TypeError(f"hypermodel {spec!r} must name a hx.HyperModel, got {hypermodel!r}")
    if space is not None:
        raise ValueError("space is for a function; a hypermodel declares its own hyperparameters")
    if data_spec is None:
        raise ValueError("a hypermodel needs 'data: module:name' of a function returning (x, y)")
    return hypermodel, _data(str(data_spec), load_object(str(data_spec), base)())


def _data(spec: str, data: Any) -> dict[str, Any]:
    if isinstance(data, dict):
        return data
    if isinstance(data, tuple) and len(data) == 2:
        return {"x": data[0], "y": data[1]}
    raise TypeError(f"data {spec!r} must return (x, y) or a dict of search() arguments")


def load_object(spec: str, base: Path) -> Any:
    """The object ``module:name`` names, the module looked up in ``base`` first."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ValueError(f"expected 'module:name', got {spec!r}")
    sys.path.insert(0, str(base.resolve()))
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        where = "beside the config or on sys.path" if e.name == module_name else f"({e})"
        raise ImportError(f"{spec!r}: cannot import {e.name!r} {where}") from e
    if not hasattr(module, attr):
        raise ValueError(f"{spec!r}: {module_name} has nothing named {attr!r}")
    return getattr(module, attr)


def _with_space(
    fn: Callable[[HyperParameters], Any], space: SearchSpace | None
) -> Callable[[HyperParameters], Any]:
    if not callable(fn):
        raise ValueError(f"function must be callable, got {fn!r}")
    if space is None:
        return fn

    @functools.wraps(fn)  # the study is named for fn, not for this wrapper
    def declared(hp: HyperParameters) -> Any:
        space.sample(hp)
        return fn(hp)

    return declared
