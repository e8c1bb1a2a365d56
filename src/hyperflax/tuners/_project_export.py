"""``hyperflax export PROJECT_DIR PATH``: the best model of a finished search, from its files.

A HyperModel search records in its study how to rebuild a trial's model (the build
function's ``module:name``, one input's shape and dtype, the task, the seed); the best trials'
weights are in the project's checkpoints. Nothing is trained again.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from hyperflax import _study_keys as keys
from hyperflax.search_spaces import HyperParameters
from hyperflax.tuners import _study
from hyperflax.tuners._hypermodel import HyperModel
from hyperflax.tuners._objective import Objective
from hyperflax.tuners._training import BEST, load_trained


def import_builder(spec: str) -> HyperModel:
    """The HyperModel that ``spec`` (``module:name``) names: a build function or a subclass.

    The current directory is searched first, as ``python -m`` does.

    Raises:
        ValueError: When ``spec`` is not ``module:name`` or names nothing usable.
        ImportError: When the module cannot be imported.

    Example:
        >>> import_builder("hyperflax.testing:build_mlp")  # doctest: +SKIP
    """
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ValueError(f"the model builder must be 'module:name', got {spec!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    module = importlib.import_module(module_name)
    target: Any = module
    for part in attr.split("."):
        target = getattr(target, part, None)
    if isinstance(target, HyperModel):
        return target
    if isinstance(target, type) and issubclass(target, HyperModel):
        return target()
    if callable(target):
        return HyperModel(target)
    raise ValueError(f"{spec!r} names no build function, HyperModel or HyperModel subclass")


def _chosen_trial(study: optuna.Study, number: int | None) -> FrozenTrial:
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if number is not None:
        found = [t for t in complete if t.number == number]
        if not found:
            raise ValueError(f"trial {number} is not a complete trial of this study")
        return found[0]
    if not complete:
        raise ValueError("the study has no complete trial to export")
    attrs = study.user_attrs
    objective = Objective(attrs.get(keys.OBJECTIVE, "value"), attrs.get(keys.DIRECTION, "min"))
    return objective.rank(complete)[0]


def export_project(
    project: str | os.PathLike[str],
    path: str | os.PathLike[str],
    *,
    build: str | None = None,
    trial: int | None = None,
    storage: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Export the best (or the given) trial's model of a finished HyperModel search.

    Args:
        project: The project directory (``directory/project_name`` of the search).
        path: The artifact directory to write (see ``hx.export_model``).
        build: The model builder as ``module:name`` (a build function, a HyperModel or a
            subclass); by default the one the search recorded.
        trial: A trial number instead of the best trial.
        storage: The study's storage URL when it is not the project's ``study.db``.
        overwrite: Replace an existing artifact at ``path``.

    Returns:
        The artifact's absolute path.

    Raises:
        ValueError: When the project has no study, records no model, has no builder to import,
            or the trial's weights are gone (a search keeps its best trials' weights).

    Example:
        >>> export_project("hx_runs/digits", "exported/digits")  # doctest: +SKIP
    """
    from hyperflax.export import export_model

    project = Path(project)
    if storage is None and not (project / "study.db").exists():
        raise ValueError(f"no study at {project / 'study.db'}; pass the project directory")
    study = optuna.load_study(
        study_name=project.name, storage=_study.make_storage(storage, project)
    )
    recipe = study.user_attrs.get(keys.EXPORT)
    if recipe is None:
        raise ValueError(
            f"the study in {project} records no model: export needs a HyperModel search "
            "run by this version of hyperflax (a plain function has no model)"
        )
    spec = build or recipe["build"]
    if spec is None:
        raise ValueError(
            "the search's build function cannot be imported by name (it was defined in a "
            "script run as __main__, or inside a function); pass --build module:name"
        )
    chosen = _chosen_trial(study, trial)
    checkpoint = project / "checkpoints" / f"trial_{chosen.number:05d}"
    if not (checkpoint / BEST).exists():
        raise ValueError(
            f"the weights of trial {chosen.number} are not kept ({checkpoint / BEST}): a "
            "finished search keeps those of its best trials"
        )
    model = load_trained(
        import_builder(spec), HyperParameters(chosen.params), recipe["seed"], checkpoint
    )
    example = np.zeros((1, *recipe["input"]["shape"]), recipe["input"]["dtype"])
    metadata = {
        "task": "classification" if recipe["classifier"] else "regression",
        "hyperparameters": chosen.params,
        "metrics": chosen.user_attrs.get(keys.METRICS, {}),
        "trial": chosen.number,
        "builder": spec,
    }
    labels = chosen.user_attrs.get(keys.CLASSES) if recipe["classifier"] else None
    return export_model(
        model, path, example_input=example, metadata=metadata, class_labels=labels,
        overwrite=overwrite,
    )  # fmt: skip
