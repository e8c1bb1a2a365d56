"""The ``hyperflax`` command: ``demo``, ``tune``, ``summary``, ``serve``, ``automl``."""

from __future__ import annotations

import argparse
import functools
import importlib
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import optuna
import yaml

from hyperflax import _study_keys as keys
from hyperflax import tuners
from hyperflax.search_spaces import HyperParameters, SearchSpace
from hyperflax.tuners import Objective, _results, _study

_TUNERS: dict[str, type[tuners.Tuner]] = {
    "random": tuners.RandomSearch,
    "bayesian": tuners.BayesianOptimization,
    "grid": tuners.GridSearch,
    "hyperband": tuners.Hyperband,
}
_CONFIG_KEYS = {"function", "space", "tuner", "tuner_args", "objective", "max_trials", "time_limit"}
_CONFIG_KEYS |= {"seed", "directory", "project_name", "storage", "pruner", "overwrite"}


def demo(directory: str = "hx_runs", max_epochs: int = 27, seed: int = 0) -> tuple[float, float]:
    """The main jobs on bundled data: a tuned search, then an AutoML fit; held-out accuracies.

    First Hyperband over an MLP space on scikit-learn's digits (the accuracy of the best five
    trials' models with their predicted probabilities averaged), then
    ``hx.automl.TabularClassifier(time_limit=30)`` on the breast-cancer table. Runs on the
    embedded defaults: SQLite studies and checkpoints under ``directory``.
    """
    from hyperflax._demo import digits_search, table_automl

    return digits_search(directory, max_epochs, seed), table_automl(directory, seed)


def tune(config_path: str | Path) -> tuners.Tuner:
    """Run the search a YAML file describes; see the README for its keys."""
    path = Path(config_path)
    config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(config, dict) or "function" not in config:
        raise SystemExit(f"{path}: a tune config needs at least 'function: module:name'")
    if unknown := set(config) - _CONFIG_KEYS:
        raise SystemExit(f"{path}: unknown keys {sorted(unknown)}; known: {sorted(_CONFIG_KEYS)}")
    kind = config.pop("tuner", "bayesian")
    if kind not in _TUNERS:
        raise SystemExit(f"{path}: tuner must be one of {sorted(_TUNERS)}, got {kind!r}")
    fn = _load_function(str(config.pop("function")), path.parent)
    space = SearchSpace(config.pop("space")) if "space" in config else None
    objective = config.pop("objective", "val_loss")
    if isinstance(objective, dict):
        objective = Objective(**objective)
    tuner = _TUNERS[kind](
        _with_space(fn, space), objective=objective, **config.pop("tuner_args", {}), **config
    )
    tuner.search()
    tuner.results_summary()
    return tuner


def summary(directory: str, project_name: str, storage: str | None, num_trials: int) -> None:
    """Print the results table of an existing project."""
    project = _study.project_dir(directory, project_name)
    if storage is None and not (project / "study.db").exists():
        raise SystemExit(f"no study at {project / 'study.db'}; pass --directory/--project-name")
    study = optuna.load_study(
        study_name=project_name, storage=_study.make_storage(storage, project)
    )
    attrs = study.user_attrs
    objective = Objective(attrs.get(keys.OBJECTIVE, "value"), attrs.get(keys.DIRECTION, "min"))
    complete = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    _results.print_summary(study, objective, objective.rank(complete)[:num_trials])


def serve(path: str, *, host: str = "127.0.0.1", port: int = 5001) -> NoReturn:
    """Serve an exported model at ``http://host:port/invocations`` from any shell.

    This process becomes MLflow's scoring server (``mlflow models serve --env-manager local``)
    with this interpreter's ``bin`` directory on ``PATH``, so no virtual environment needs to be
    activated. A ``path`` that is not an exported model exits with the reason and the fix.

    Example:
        >>> serve("exported/digits", port=5001)  # doctest: +SKIP
    """
    from hyperflax import _serve

    try:
        _serve.serve(path, host=host, port=port)
    except ValueError as e:  # ArtifactError is one too
        raise SystemExit(f"hyperflax serve: {e}") from e


def _load_function(spec: str, base: Path) -> Callable[[HyperParameters], Any]:
    module_name, _, attr = spec.partition(":")
    if not attr:
        raise SystemExit(f"function must be 'module:name', got {spec!r}")
    sys.path.insert(0, str(base.resolve()))
    fn = getattr(importlib.import_module(module_name), attr)
    if not callable(fn):
        raise SystemExit(f"{spec} is not callable")
    return fn


def _with_space(
    fn: Callable[[HyperParameters], Any], space: SearchSpace | None
) -> Callable[[HyperParameters], Any]:
    if space is None:
        return fn

    @functools.wraps(fn)  # the study is named for fn, not for this wrapper
    def declared(hp: HyperParameters) -> Any:
        space.sample(hp)
        return fn(hp)

    return declared


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``hyperflax`` console script."""
    parser = argparse.ArgumentParser(prog="hyperflax", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("demo", help="run the demo search on the embedded defaults")
    p.add_argument("--directory", default="hx_runs")
    p.add_argument("--max-epochs", type=int, default=27)
    p.add_argument("--seed", type=int, default=0)
    p = commands.add_parser("tune", help="run the search a YAML config describes")
    p.add_argument("config")
    p = commands.add_parser("summary", help="print the results of a project")
    p.add_argument("--directory", default="hx_runs")
    p.add_argument("--project-name", required=True)
    p.add_argument("--storage", default=None)
    p.add_argument("-n", "--num-trials", type=int, default=10)
    p = commands.add_parser("serve", help="serve an exported model with MLflow's scoring server")
    p.add_argument("path", help="a directory written by tuner.export_best or hx.export_model")
    p.add_argument("--port", type=int, default=5001)
    p.add_argument("--host", default="127.0.0.1")
    p = commands.add_parser("automl", help="fit AutoML on a CSV table and predict another")
    p.add_argument("train", help="the training table, a CSV file")
    p.add_argument("--target", required=True, help="the column to predict")
    p.add_argument("--test", default=None, help="a CSV file to predict")
    p.add_argument("--output", default=None, help="where to write the predictions CSV")
    p.add_argument("--id-column", default=None, help="a column copied to the predictions")
    p.add_argument("--task", default="auto", choices=["auto", "classification", "regression"])
    p.add_argument("--time-limit", type=float, default=300, help="seconds for the whole fit")
    p.add_argument("--metric", default=None, help="e.g. log_loss, accuracy, roc_auc, rmse, r2")
    p.add_argument("--presets", default="medium", choices=["medium", "fast"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model-dir", default="hx_automl_model", help="where the model is saved")
    args = parser.parse_args(argv)
    if args.command == "demo":
        demo(args.directory, args.max_epochs, args.seed)
    elif args.command == "tune":
        tune(args.config)
    elif args.command == "automl":
        from hyperflax.automl._cli import run

        run(
            args.train,
            target=args.target,
            test=args.test,
            output=args.output,
            id_column=args.id_column,
            task=args.task,
            time_limit=args.time_limit,
            metric=args.metric,
            presets=args.presets,
            seed=args.seed,
            model_dir=args.model_dir,
        )
    elif args.command == "serve":
        serve(args.path, host=args.host, port=args.port)
    else:
        summary(args.directory, args.project_name, args.storage, args.num_trials)
