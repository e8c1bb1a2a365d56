"""A trained candidate model, what it needs to predict, and how it is written to disk."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hyperflax._npz import read_npz, write_npz
from hyperflax.automl import _classic, _skops
from hyperflax.automl._space import NETWORKS, PREPROCESSOR, Preset
from hyperflax.automl._task import Split, Task


@dataclass
class Member:
    """One trained candidate: a fitted scikit-learn model, or a network's spec and weights.

    Attributes:
        trial: The trial number that trained it.
        family: ``"hgb"``, ``"linear"``, ``"mlp"``, ``"realmlp"`` or ``"tabm"``.
        params: The family's hyperparameters.
        model: A fitted scikit-learn estimator, or ``{"spec": ..., "arrays": ...}``.
    """

    trial: int
    family: str
    params: dict[str, Any]
    model: Any
    _network: Any = field(default=None, repr=False, compare=False)

    @property
    def preprocessor(self) -> str:
        """The kind of preprocessing the member's inputs go through."""
        return PREPROCESSOR[self.family]

    def predict(self, x: np.ndarray, task: Task) -> np.ndarray:
        """Class probabilities or regression values for preprocessed rows ``x``."""
        if self.family not in NETWORKS:
            return _classic.predict_sklearn(self.model, x, task)
        from hyperflax.automl import _networks

        if self._network is None:
            self._network = _networks.load_network(self.model)
        return _networks.predict_network(self._network, self.model["spec"], x, task)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_network": None}  # rebuilt from the weights on first use


@dataclass
class Bagged:
    """One candidate trained on k folds: its prediction is the mean of its fold models'.

    Attributes:
        trial: The trial number that trained it.
        family: The family of every fold model.
        params: The family's hyperparameters, shared by the fold models.
        folds: The fold models, in the order of the folds.
    """

    trial: int
    family: str
    params: dict[str, Any]
    folds: list[Member]

    @property
    def preprocessor(self) -> str:
        """The kind of preprocessing the member's inputs go through."""
        return PREPROCESSOR[self.family]

    def predict(self, x: np.ndarray, task: Task) -> np.ndarray:
        """The mean of the fold models' predictions on preprocessed rows ``x``."""
        return np.mean([m.predict(x, task) for m in self.folds], axis=0)


Candidate = Member | Bagged


def fit_member(
    trial: int,
    family: str,
    params: dict[str, Any],
    data: Split,
    task: Task,
    *,
    deadline: float,
    seed: int,
    preset: Preset,
    grace: float = 0.0,
) -> Member:
    """Trains one candidate of ``family`` on ``data.x_train`` with early stopping on the rest.

    A network may pass ``deadline`` by the time it spends compiling, at most ``grace`` seconds.
    """
    if task.classification and family not in NETWORKS and len(np.unique(data.y_train)) < 2:
        model = _classic.fit_constant(data)
    elif family == "hgb":
        model = _classic.fit_hgb(params, data, task, deadline=deadline, seed=seed)
    elif family == "linear":
        model = _classic.fit_linear(params, data, task, deadline=deadline, seed=seed)
    elif family == "knn":
        model = _classic.fit_knn(params, data, task, deadline=deadline, seed=seed)
    elif family == "kernel":
        model = _classic.fit_kernel(params, data, task, deadline=deadline, seed=seed)
    else:
        from hyperflax.automl import _networks

        model = _networks.fit_network(
            family, params, data, task, deadline=deadline, seed=seed,
            max_epochs=preset.max_epochs, patience=preset.patience, grace=grace,
        )  # fmt: skip
    return Member(trial, family, params, model)


def save_member(member: Candidate, directory: Path) -> None:
    """Writes ``member`` to ``directory``: JSON, plus skops (scikit-learn) or ``.npz`` (network).

    A bagged member's fold models go to ``fold_0, fold_1, ...`` inside it.
    """
    directory.mkdir(parents=True, exist_ok=True)
    meta: dict[str, Any] = {"trial": member.trial, "family": member.family, "params": member.params}
    if isinstance(member, Bagged):
        for i, fold in enumerate(member.folds):
            save_member(fold, directory / f"fold_{i}")
        meta["folds"] = len(member.folds)
    elif member.family in NETWORKS:
        meta["spec"] = member.model["spec"]
        write_npz(directory / "weights.npz", member.model["arrays"])
    else:
        _skops.dump(member.model, directory / "model.skops")
    (directory / "member.json").write_text(json.dumps(meta))


def load_member(directory: Path) -> Candidate:
    """Reads a member written by :func:`save_member` (no pickle: skops with trusted types)."""
    meta = json.loads((directory / "member.json").read_text())
    if "folds" in meta:
        folds = [load_member(directory / f"fold_{i}") for i in range(meta["folds"])]
        return Bagged(meta["trial"], meta["family"], meta["params"], folds)  # type: ignore[arg-type]
    if meta["family"] in NETWORKS:
        model: Any = {"spec": meta["spec"], "arrays": read_npz(directory / "weights.npz")}
    else:
        model = _skops.load(directory / "model.skops")
    return Member(meta["trial"], meta["family"], meta["params"], model)
