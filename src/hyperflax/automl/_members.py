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
) -> Member:
    """Trains one candidate of ``family`` on ``data.x_train`` with early stopping on the rest."""
    if family == "hgb":
        model = _classic.fit_hgb(params, data, task, deadline=deadline, seed=seed)
    elif family == "linear":
        model = _classic.fit_linear(params, data, task, deadline=deadline, seed=seed)
    elif family == "knn":
        model = _classic.fit_knn(params, data, task, deadline=deadline, seed=seed)
    else:
        from hyperflax.automl import _networks

        model = _networks.fit_network(
            family, params, data, task, deadline=deadline, seed=seed,
            max_epochs=preset.max_epochs, patience=preset.patience,
        )  # fmt: skip
    return Member(trial, family, params, model)


def save_member(member: Member, directory: Path) -> None:
    """Writes ``member`` to ``directory``: JSON, plus skops (scikit-learn) or ``.npz`` (network)."""
    directory.mkdir(parents=True, exist_ok=True)
    meta: dict[str, Any] = {"trial": member.trial, "family": member.family, "params": member.params}
    if member.family in NETWORKS:
        meta["spec"] = member.model["spec"]
        write_npz(directory / "weights.npz", member.model["arrays"])
    else:
        _skops.dump(member.model, directory / "model.skops")
    (directory / "member.json").write_text(json.dumps(meta))


def load_member(directory: Path) -> Member:
    """Reads a member written by :func:`save_member` (no pickle: skops with trusted types)."""
    meta = json.loads((directory / "member.json").read_text())
    if meta["family"] in NETWORKS:
        model: Any = {"spec": meta["spec"], "arrays": read_npz(directory / "weights.npz")}
    else:
        model = _skops.load(directory / "model.skops")
    return Member(meta["trial"], meta["family"], meta["params"], model)
