"""Refit the ensemble's members on every row (training and held-out) in the time kept for it.

The search trains each candidate on 80% of the rows (or on k folds) and keeps the rest to choose
and weigh the ensemble; once that is done, the chosen members are trained again on all rows with
what their trial found (boosting's number of trees, a network's best epoch count). The ensemble
weights stay. A member whose refit would not end in time keeps its first model(s).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from hyperflax.automl import _classic
from hyperflax.automl._members import Bagged, Candidate, Member
from hyperflax.automl._space import NETWORKS
from hyperflax.automl._task import Task

#: Data up to this many rows keeps a share of the time limit for the refit.
REFIT_MAX_ROWS = 10_000
#: That share.
REFIT_SHARE = 0.15
#: A refit is started only when this many times its first fit time is left.
_MARGIN = 1.5


def refit_members(
    members: list[tuple[Candidate, float]],
    features: Callable[[str], np.ndarray],
    y: np.ndarray,
    fit_times: dict[int, float],
    task: Task,
    *,
    deadline: float,
) -> list[tuple[Candidate, float, bool]]:
    """Each member with its weight and whether it was refit on every row before ``deadline``.

    Args:
        members: The ensemble's members and weights.
        features: Every row preprocessed for a kind of preprocessor.
        y: Every row's target.
        fit_times: Seconds each trial's candidate took to train (all its folds).
        task: The task.
        deadline: A ``time.monotonic()`` time no refit may end after.

    A bagged member becomes one model trained like its last fold model (boosting's number of
    trees, a network's best epoch count; the last of time-ordered folds trained on the most).
    """
    out: list[tuple[Candidate, float, bool]] = []
    for member, weight in members:
        first = member.folds[-1] if isinstance(member, Bagged) else member
        n_fits = len(member.folds) if isinstance(member, Bagged) else 1
        estimate = _MARGIN * fit_times.get(member.trial, np.inf) / n_fits
        if time.monotonic() + estimate > deadline:
            out.append((member, weight, False))
            continue
        model = _refit(first, features(member.preprocessor), y, task, deadline)
        if model is None:
            out.append((member, weight, False))
        else:
            out.append((Member(member.trial, member.family, member.params, model), weight, True))
    return out


def _refit(member: Member, x: np.ndarray, y: np.ndarray, task: Task, deadline: float) -> Any:
    if member.family not in NETWORKS:
        return _classic.refit_sklearn(member.model, x, y)
    from hyperflax.automl import _networks

    return _networks.refit_network(member.model, member.params, x, y, task, deadline=deadline)
