"""The hyperflax command: run a search, look at its results, serve a model, fit AutoML."""

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
from hyperflax._errors import SearchSpaceError, StudyMismatchError
from hyperflax._version import __version__
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
_CONFIG_HELP = """\
CONFIG.yaml keys (only function is required):
  function      module:name of a function fn(hp) -> float | dict[str, float], the
                module looked up beside CONFIG.yaml; a float it returns is the objective
  space         {name: spec, ...}, read by fn as hp["name"]; a spec is
                {type: int | float, low: L, high: H, step: S, log: true, default: D},
                {type: choice, values: [...], default: D}, {type: boolean, default: D},
                {type: fixed, value: V}, a list (a choice) or a scalar (a fixed value)
  tuner         random | bayesian | grid | hyperband (default bayesian)
  tuner_args    further arguments of that tuner, e.g. {sampler: gp} for bayesian or
                {max_epochs: 27, factor: 3} for hyperband
  objective     a metric name (default val_loss) or {name: N, direction: min | max}
  max_trials, time_limit, seed, directory, project_name, storage, pruner, overwrite
                the tuner arguments of the same names

example (examples/quadratic_config.yaml):
  function: quadratic:objective
  tuner: bayesian
  objective: {name: value, direction: min}
  max_trials: 20
  space:
    x: {type: float, low: -5.0, high: 5.0}
    k: {type: choice, values: [1, 2, 3]}
"""


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
    """Run the search a YAML file describes, print its results and return the tuner.

    The keys are listed by ``hyperflax tune --help`` and in the README. A mistake in the file (an
    unknown key, a bad tuner, search space or argument, a module that cannot be imported) exits
    with one line naming the file and the problem.

    Example:
        >>> tune("examples/quadratic_config.yaml").get_best_hyperparameters()[0]  # doctest: +SKIP
    """
    path = Path(config_path)
    try:
        tuner = _tuner_from_config(path)
        tuner.search()
    except (SearchSpaceError, StudyMismatchError) as e:  # found once the search asks
        raise _config_error(path, e) from e
    tuner.results_summary()
    return tuner


def _tuner_from_config(path: Path) -> tuners.Tuner:
    """Build the tuner ``path`` describes; any mistake in it exits with one line."""
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as e:
        raise _config_error(path, f"cannot read the config: {e}") from e
    if not isinstance(config, dict) or "function" not in config:
        raise _config_error(path, "a tune config needs at least 'function: module:name'")
    if unknown := set(config) - _CONFIG_KEYS:
        raise _config_error(path, f"unknown keys {sorted(unknown)}; known: {sorted(_CONFIG_KEYS)}")
    kind = config.pop("tuner", "bayesian")
    if not isinstance(kind, str) or kind not in _TUNERS:
        raise _config_error(path, f"tuner must be one of {sorted(_TUNERS)}, got {kind!r}")
    tuner_args = config.pop("tuner_args", None) or {}
    if not isinstance(tuner_args, dict):
        raise _config_error(path, f"tuner_args must be a mapping, got {tuner_args!r}")
    try:
        space = SearchSpace(config.pop("space")) if "space" in config else None
        objective = config.pop("objective", "val_loss")
        if isinstance(objective, dict):
            objective = Objective(**objective)
        fn = _load_function(str(config.pop("function")), path.parent)
        return _TUNERS[kind](_with_space(fn, space), objective=objective, **tuner_args, **config)
    except (ImportError, ValueError, TypeError) as e:  # SearchSpaceError is a ValueError
        raise _config_error(path, e) from e


def _config_error(path: Path, problem: object) -> SystemExit:
    """Exit with one line: the config file, then the problem with its whitespace collapsed."""
    return SystemExit(f"{path}: {' '.join(str(problem).split())}")


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


def export(
    project: str,
    path: str,
    *,
    build: str | None = None,
    trial: int | None = None,
    storage: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Export the best model of a finished search in ``project`` to ``path`` and say where.

    Example:
        >>> export("hx_runs/digits", "exported/digits")  # doctest: +SKIP
        exported hx_runs/digits to /home/me/exported/digits; serve it with: ...
    """
    from hyperflax.tuners._project_export import export_project

    try:
        written = export_project(
            project, path, build=build, trial=trial, storage=storage, overwrite=overwrite
        )
    except (ValueError, ImportError, FileExistsError) as e:
        raise SystemExit(f"hyperflax export: {e}") from e
    print(f"exported {Path(project)} to {written}; serve it with: hyperflax serve {written}")
    return written


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
    if not module_name or not attr:
        raise ValueError(f"function must be 'module:name', got {spec!r}")
    sys.path.insert(0, str(base.resolve()))
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        where = "beside the config or on sys.path" if e.name == module_name else f"({e})"
        raise ImportError(f"function {spec!r}: cannot import {e.name!r} {where}") from e
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise ValueError(f"function {spec!r}: {module_name} has no function named {attr!r}")
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


def dashboard(
    project: str, *, optuna_port: int | None = None, mlflow_port: int | None = None
) -> None:
    """Serve optuna-dashboard and the MLflow UI on a project until Ctrl-C.

    Both read the project's embedded stores (``study.db``, ``mlflow.db`` and ``mlartifacts``)
    and listen on 127.0.0.1; ``None`` picks a free port. Without optuna-dashboard installed
    (``pip install 'hyperflax[dashboard]'``) it prints the two commands to run instead.

    Example:
        >>> dashboard("hx_runs/digits")  # doctest: +SKIP
        optuna-dashboard: http://127.0.0.1:40215/dashboard
        MLflow UI:        http://127.0.0.1:38121/
    """
    from hyperflax import _dashboard

    _dashboard.run(project, optuna_port=optuna_port, mlflow_port=mlflow_port)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hyperflax", description=__doc__)
    parser.add_argument("--version", action="version", version=f"hyperflax {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = commands.add_parser("demo", help="run the demo search on the embedded defaults")
    p.add_argument("--directory", default="hx_runs", help="where the projects go")
    p.add_argument("--max-epochs", type=int, default=27, help="Hyperband's largest budget")
    p.add_argument("--seed", type=int, default=0, help="seed of the search and the AutoML fit")
    p = commands.add_parser(
        "tune",
        help="run the search a YAML config describes",
        description="Run the search a YAML config describes and print the best trials.",
        epilog=_CONFIG_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("config", metavar="CONFIG.yaml", help="the search to run (keys below)")
    p = commands.add_parser("summary", help="print the results of a project")
    p.add_argument("--directory", default="hx_runs", help="the directory holding the project")
    p.add_argument("--project-name", required=True, help="the project (the tuner's project_name)")
    p.add_argument("--storage", default=None, help="the study's storage URL, if not study.db")
    p.add_argument("-n", "--num-trials", type=int, default=10, help="how many best trials to show")
    p = commands.add_parser(
        "dashboard", help="open optuna-dashboard and the MLflow UI on a project"
    )
    p.add_argument("project", metavar="PROJECT_DIR", help="a project directory, hx_runs/NAME")
    p.add_argument("--optuna-port", type=int, default=None, help="default: a free port")
    p.add_argument("--mlflow-port", type=int, default=None, help="default: a free port")
    p = commands.add_parser(
        "export", help="export the best model of a finished search from its checkpoints"
    )
    p.add_argument("project", metavar="PROJECT_DIR", help="a project directory, hx_runs/NAME")
    p.add_argument("path", metavar="PATH", help="the artifact directory to write")
    p.add_argument("--build", default=None, help="module:name of the model builder, if needed")
    p.add_argument("--trial", type=int, default=None, help="a trial number instead of the best")
    p.add_argument("--storage", default=None, help="the study's storage URL, if not study.db")
    p.add_argument("--overwrite", action="store_true", help="replace an existing artifact")
    p = commands.add_parser("serve", help="serve an exported model with MLflow's scoring server")
    p.add_argument("path", help="a directory written by tuner.export_best or hx.export_model")
    p.add_argument("--port", type=int, default=5001, help="the TCP port (default 5001)")
    p.add_argument("--host", default="127.0.0.1", help="the address to listen on")
    p = commands.add_parser("automl", help="fit AutoML on a CSV table and predict another")
    p.add_argument("train", help="the training table, a CSV file")
    p.add_argument("--target", required=True, help="the column to predict")
    p.add_argument("--test", default=None, help="a CSV file to predict")
    p.add_argument("--output", default=None, help="where to write the predictions CSV")
    p.add_argument("--id-column", default=None, help="a column copied to the predictions")
    p.add_argument(
        "--task",
        default="auto",
        choices=["auto", "classification", "regression"],
        help="auto: classification for a text, bool or few-valued integer target",
    )
    p.add_argument("--time-limit", type=float, default=300, help="seconds for the whole fit")
    p.add_argument("--metric", default=None, help="e.g. log_loss, accuracy, roc_auc, rmse, r2")
    p.add_argument(
        "--presets",
        default="medium",
        choices=["medium", "fast", "best"],
        help="fast: boosting, linear, MLP; best: every candidate bagged on 5 folds",
    )
    p.add_argument("--n-folds", type=int, default=None, help="bag every candidate on k folds")
    p.add_argument("--max-trials", type=int, default=None, help="at most this many candidates")
    p.add_argument(
        "--proba",
        action="store_true",
        help="write probabilities: the second class's for binary, one column per class else",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the search and the models")
    p.add_argument("--model-dir", default="hx_automl_model", help="where the model is saved")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``hyperflax`` console script."""
    args = _parser().parse_args(argv)
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
            n_folds=args.n_folds,
            max_trials=args.max_trials,
            proba=args.proba,
        )
    elif args.command == "export":
        export(args.project, args.path, build=args.build, trial=args.trial,
               storage=args.storage, overwrite=args.overwrite)  # fmt: skip
    elif args.command == "serve":
        serve(args.path, host=args.host, port=args.port)
    elif args.command == "dashboard":
        dashboard(args.project, optuna_port=args.optuna_port, mlflow_port=args.mlflow_port)
    else:
        summary(args.directory, args.project_name, args.storage, args.num_trials)
