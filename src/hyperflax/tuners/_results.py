"""Readable results of a study: a dataframe and a printed table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState
from rich.console import Console
from rich.table import Table

from hyperflax._study_keys import ERROR, METRICS
from hyperflax.tuners._objective import Objective
from hyperflax.tuners._plan import TrialPlan

_STATE_WORDS = {
    TrialState.COMPLETE: "complete",
    TrialState.PRUNED: "pruned",
    TrialState.FAIL: "failed",
    TrialState.RUNNING: "running",
    TrialState.WAITING: "queued",
}
_SHOWN_ATTRS = {ERROR: "error", METRICS: "metrics"}


def trials_dataframe(study: optuna.Study, objective: Objective) -> pd.DataFrame:
    """One row per trial: number, state, objective value, duration, params, budget, error."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        row: dict[str, Any] = {
            "number": t.number,
            "state": t.state.name,
            objective.name: t.value,
            "duration_s": t.duration.total_seconds() if t.duration else None,
        }
        row.update({f"params_{k}": v for k, v in t.params.items()})
        row["budget"] = TrialPlan.of(t).epochs
        row.update({shown: t.user_attrs.get(key) for key, shown in _SHOWN_ATTRS.items()})
        rows.append(row)
    return pd.DataFrame(rows)


def print_summary(
    study: optuna.Study,
    objective: Objective,
    best: Sequence[FrozenTrial],
    console: Console | None = None,
) -> None:
    """Print the best trials as a table, then counts by state and the latest errors."""
    console = console or Console(width=max(Console().width, 140))
    names = list(dict.fromkeys(k for t in best for k in t.params))
    console.print(f"{study.study_name}: best trials by {objective.name} ({objective.direction})")
    table = Table()
    for column in ("rank", "trial", objective.name, *names):
        table.add_column(column, justify="right" if column != "trial" else "left")
    for rank, t in enumerate(best, 1):
        cells = [_fmt(t.params.get(n, "")) for n in names]
        table.add_row(str(rank), str(t.number), _fmt(t.value), *cells)
    console.print(table)
    trials = study.get_trials(deepcopy=False)
    counts = {_STATE_WORDS[s]: sum(t.state == s for t in trials) for s in _STATE_WORDS}
    console.print(", ".join(f"{n} {state}" for state, n in counts.items() if n) or "no trials yet")
    failed = [t for t in trials if t.state == TrialState.FAIL][-3:]
    for t in failed:
        console.print(f"trial {t.number} failed: {t.user_attrs.get(ERROR, 'unknown error')}")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
