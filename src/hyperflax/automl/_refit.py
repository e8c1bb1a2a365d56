"""Refit the ensemble's members on every row (training and held-out) in the time kept for it.

The search trains each candidate on 80% of the rows and keeps the rest to choose and weigh the
ensemble; once that is done, the chosen members are trained again on all rows with what their
trial found (boosting's number of trees, a network's best epoch count). The ensemble weights
stay. A member whose refit would not end in time keeps its first model.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from hyperflax.automl import _classic
from hyperflax.automl._members import Member
from hyperflax.automl._space import NETWORKS
from hyperflax.automl._task import Split, Task

#: Data up to this many rows keeps a share of the time limit for the refit.
REFIT_MAX_ROWS = 10_000
#: That share.
REFIT_SHARE = 0.15
#: A refit is started only when this many times its first fit time is left.
_MARGIN = 1.5


def refit_members(
    members: list[tuple[Member, float]],
    splits: dict[str, Split],
    fit_times: dict[int, float],
    task: Task,
    *,
    deadline: float,
) -> list[tuple[Member, float, bool]]:
    """Each member with its weight and whether it was refit on every row before ``deadline``."""
    out = []
    for member, weight in members:
        estimate = _MARGIN * fit_times.get(member.trial, np.inf)
        if time.monotonic() + estimate > deadline:
            out.append((member, weight, False))
            continue
        data = splits[member.preprocessor]
        x = np.concatenate([data.x_train, data.x_val])
        y = np.concatenate([data.y_train, data.y_val])
        model = _refit(member, x, y, task, deadline)
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
