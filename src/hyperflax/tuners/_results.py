"""Readable results of a study: a dataframe and a printed table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import optuna
import pandas as pd
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import FrozenTrial, TrialState
from rich.console import Console
from rich.table import Table

from hyperflax._study_keys import ERROR, HISTORY, METRICS
from hyperflax.tuners._objective import Objective
from hyperflax.tuners._plan import TrialPlan

_STATE_WORDS = {
    TrialState.COMPLETE: "complete",
    TrialState.PRUNED: "pruned",
    TrialState.FAIL: "failed",
    TrialState.RUNNING: "running",
    TrialState.WAITING: "queued",
}


def trials_dataframe(study: optuna.Study, objective: Objective) -> pd.DataFrame:
    """One row per trial: number, state, value, duration, params, budget, error, metrics."""
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
        row["error"] = t.user_attrs.get(ERROR)
        row.update({f"metrics_{k}": v for k, v in (t.user_attrs.get(METRICS) or {}).items()})
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


def space_summary(study: optuna.Study, console: Console | None = None) -> None:
    """Print every hyperparameter the study's trials asked for: its kind and range or choices."""
    console = console or Console(width=max(Console().width, 120))
    space: dict[str, BaseDistribution] = {}
    for t in study.get_trials(deepcopy=False):
        for name, distribution in t.distributions.items():
            space.setdefault(name, distribution)
    console.print(f"{study.study_name}: {len(space)} hyperparameters seen in its trials")
    table = Table()
    for column in ("name", "kind", "values", "scale"):
        table.add_column(column)
    for name, d in space.items():
        if isinstance(d, CategoricalDistribution):
            table.add_row(name, "choice", ", ".join(map(str, d.choices)), "")
            continue
        assert isinstance(d, IntDistribution | FloatDistribution), d
        kind = "int" if isinstance(d, IntDistribution) else "float"
        step = d.step
        values = f"[{_fmt(d.low)}, {_fmt(d.high)}]" + (f" step {_fmt(step)}" if step else "")
        table.add_row(name, kind, values, "log" if d.log else "linear")
    console.print(table)


def history(trials: dict[int, FrozenTrial], number: int) -> pd.DataFrame:
    """Trial ``number``'s reported steps, preceded by those of the trials it continues."""
    lineage = []
    current: int | None = number
    while current is not None and current in trials:
        lineage.append(trials[current])
        current = TrialPlan.of(trials[current]).continues
    frames = []
    for t in reversed(lineage):
        steps = t.user_attrs.get(HISTORY)
        if steps:
            frames.append(pd.DataFrame(steps).assign(trial=t.number))
    if not frames:
        return pd.DataFrame(columns=["step", "trial"])
    joined = pd.concat(frames, ignore_index=True)
    return joined.drop_duplicates("step", keep="last").reset_index(drop=True)
