"""The hyperflax command: run a search, look at its results, serve a model, fit AutoML."""

from __future__ import annotations

import argparse
import collections
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import optuna

from hyperflax import _config, tuners
from hyperflax import _study_keys as keys
from hyperflax._errors import SearchSpaceError, StudyMismatchError
from hyperflax._version import __version__
from hyperflax.tuners import Objective, _results, _study


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
    tuner = _search(Path(config_path))
    tuner.results_summary()
    return tuner


def worker(config_path: str | Path) -> tuners.Tuner:
    """Join the search a YAML file describes as one worker; run trials until the study is done.

    Start it any number of times, on one machine or many, with a ``storage`` they all reach
    (``postgresql+psycopg://...`` across machines): the workers share the study, never run a
    configuration twice and stop at exactly ``max_trials`` (or the end of a grid or Hyperband
    schedule). Each prints one line when its part is done; ``hyperflax summary`` shows the
    results. The config is the one of ``hyperflax tune``.

    Example:
        >>> worker("search.yaml")  # doctest: +SKIP
        worker host:4242:17 done: study 'digits' has 40 complete, 0 failed and 3 pruned trials
    """
    tuner = _search(Path(config_path))
    counts = collections.Counter(t.state.name.lower() for t in tuner.study.get_trials())
    print(
        f"worker {_study.owner_tag()} done: study {tuner.study.study_name!r} has "
        f"{counts['complete']} complete, {counts['fail']} failed and {counts['pruned']} pruned "
        "trials"
    )
    return tuner


def _search(path: Path) -> tuners.Tuner:
    tuner, search_args = _config.load(path)
    try:
        tuner.search(**search_args)
    except (SearchSpaceError, StudyMismatchError) as e:  # found once the search asks
        raise _config.config_error(path, e) from e
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
        epilog=_config.HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("config", metavar="CONFIG.yaml", help="the search to run (keys below)")
    p = commands.add_parser(
        "worker",
        help="join the search a YAML config describes as one of several workers",
        description="Run trials of the search a YAML config describes until its study is done; "
        "start it several times (on one machine or many) with a shared storage.",
        epilog=_config.HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("config", metavar="CONFIG.yaml", help="the search to join (keys below)")
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
    elif args.command == "worker":
        worker(args.config)
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
