"""``est.save(path)`` and ``hx.automl.load(path)``: JSON, skops and ``.npz``, never pickle."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hyperflax._errors import ArtifactError
from hyperflax.automl import _skops
from hyperflax.automl._members import load_member, save_member
from hyperflax.automl._stack import Stack
from hyperflax.automl._tables import Columns
from hyperflax.automl._task import Task

FORMAT = 2
_MANIFEST = "automl.json"


def save(est: Any, path: Path) -> None:
    """Writes a fitted estimator to directory ``path`` (replacing a saved estimator there)."""
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(est, "members_")
    if path.exists() and any(path.iterdir()) and not (path / _MANIFEST).exists():
        raise FileExistsError(f"`path` {str(path)!r} is a non-empty folder; choose a new path")
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    seeds = getattr(est, "seeds_", [])
    for i, run in enumerate(seeds):  # one fit per seed, each in its own folder
        save(run, path / "seeds" / str(i))
    for kind, pre in ({} if seeds else est.preprocessors_).items():
        _skops.dump(pre, path / f"preprocessor_{kind}.skops")
    for i, (member, _) in enumerate([] if seeds else est.members_):
        save_member(member, path / "members" / str(i))
    stack = getattr(est, "stack_", None)
    if stack is not None:
        for i, member in enumerate(stack.inputs):
            save_member(member, path / "stack" / "inputs" / str(i))
        save_member(stack.model, path / "stack" / "model")
    params = {k: v for k, v in est.get_params().items() if k not in ("tracker", "directory")}
    classes = getattr(est, "classes_", None)
    manifest = {
        "format": FORMAT,
        "estimator": type(est).__name__,
        "params": params,
        "task": {"kind": est.task_.kind, "n_classes": est.task_.n_classes},
        "classes": None if classes is None else classes.tolist(),
        "classes_dtype": None if classes is None else _dtype_name(classes),
        "columns": {k: list(getattr(est.columns_, k)) for k in ("names", "numeric", "categorical")},
        "feature_names_in": getattr(est, "feature_names_in_", np.array([])).tolist() or None,
        "n_features_in": est.n_features_in_,
        "metric": est.metric_,
        "validation_score": est.validation_score_,
        "weights": [] if seeds else [w for _, w in est.members_],
        "seeds": len(seeds),
        "decision_threshold": getattr(est, "decision_threshold_", None),
        "temperature": getattr(est, "temperature_", None),
        "n_samples_fit": est.n_samples_fit_,
        "stack_inputs": None if stack is None else len(stack.inputs),
        "stack_check": getattr(est, "stack_check_", None),
        "leaderboard": est.leaderboard_.to_dict(orient="records"),
    }
    np.save(path / "oof_predictions.npy", est.oof_predictions_)
    (path / _MANIFEST).write_text(json.dumps(manifest, indent=1, default=_plain))


def _dtype_name(array: np.ndarray) -> str:
    return "object" if array.dtype == object else array.dtype.str


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} in the manifest")


def load(path: str | os.PathLike[str]) -> Any:
    """Loads an estimator written by ``est.save(path)``; it predicts as the saved one did.

    Nothing is unpickled: scikit-learn parts are read by skops with an explicit list of
    trusted types, networks from ``.npz`` files and a JSON spec.

    Raises:
        ArtifactError: when ``path`` is not a saved hyperflax AutoML estimator.

    Example:
        >>> import hyperflax as hx
        >>> clf = hx.automl.load("model_dir")  # doctest: +SKIP
        >>> clf.predict(X_test)  # doctest: +SKIP
    """
    from hyperflax.automl._estimators import TabularClassifier, TabularRegressor

    root = Path(path)
    if not (root / _MANIFEST).is_file():
        raise ArtifactError(root, f"no {_MANIFEST}; save an estimator with est.save(path)")
    manifest = json.loads((root / _MANIFEST).read_text())
    if manifest.get("format") != FORMAT:
        raise ArtifactError(root, f"format {manifest.get('format')!r} is not {FORMAT}")
    if manifest.get("estimator") in ("ImageClassifier", "ImageRegressor"):
        from hyperflax.automl._images import load_images

        return load_images(root, manifest)
    classes = {"TabularClassifier": TabularClassifier, "TabularRegressor": TabularRegressor}
    if manifest.get("estimator") not in classes:
        raise ArtifactError(root, f"unknown estimator {manifest.get('estimator')!r}")
    est = classes[manifest["estimator"]](**manifest["params"])
    est.task_ = Task(manifest["task"]["kind"], manifest["task"]["n_classes"])
    est.problem_type_ = est.task_.kind
    if manifest["classes"] is not None:
        est.classes_ = np.asarray(manifest["classes"], dtype=manifest["classes_dtype"])
    est.columns_ = Columns(
        *(tuple(manifest["columns"][k]) for k in ("names", "numeric", "categorical"))
    )
    if manifest["feature_names_in"] is not None:
        est.feature_names_in_ = np.asarray(manifest["feature_names_in"], dtype=object)
    est.n_features_in_ = manifest["n_features_in"]
    est.metric_ = manifest["metric"]
    est.n_samples_fit_ = manifest["n_samples_fit"]
    if manifest["decision_threshold"] is not None:
        est.decision_threshold_ = manifest["decision_threshold"]
    if manifest.get("temperature") is not None:  # saved by a release that calibrates
        est.temperature_ = manifest["temperature"]
    est.validation_score_ = manifest["validation_score"]
    if manifest["seeds"]:
        est._set_seeds([load(root / "seeds" / str(i)) for i in range(manifest["seeds"])])
        return est
    est.members_ = [
        (load_member(root / "members" / str(i)), w) for i, w in enumerate(manifest["weights"])
    ]
    est.models_ = {f"trial_{m.trial}_{m.family}": m for m, _ in est.members_}
    est.oof_predictions_ = np.load(root / "oof_predictions.npy", allow_pickle=False)
    stack: Stack | None = None
    kinds = {m.preprocessor for m, _ in est.members_}
    if manifest["stack_inputs"] is not None:
        inputs = [load_member(root / "stack" / "inputs" / str(i))
                  for i in range(manifest["stack_inputs"])]  # fmt: skip
        stack = Stack(inputs, load_member(root / "stack" / "model"))  # type: ignore[arg-type]
        kinds |= {m.preprocessor for m in inputs} | {"tree"}
    est.stack_ = stack
    if manifest["stack_check"] is not None:
        est.stack_check_ = manifest["stack_check"]
    est.preprocessors_ = {kind: _skops.load(root / f"preprocessor_{kind}.skops") for kind in kinds}
    est.leaderboard_ = pd.DataFrame(manifest["leaderboard"])
    return est
