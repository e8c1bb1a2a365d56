"""Live progress in the terminal: a line per finished trial, the best so far, elapsed and ETA.

The reporter is a :class:`~hyperflax.tracking.Tracker` like any other, so it sees a search
through the same hooks and can never break it. ``verbose=1`` prints one line per finished
trial and a closing line; ``verbose=2`` adds a live bar over the running trial's epochs when
the output is a terminal (in logs and CI, plain lines only); ``verbose=0`` prints nothing.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from hyperflax import _study_keys as keys
from hyperflax.tracking import Tracker
from hyperflax.tuners._objective import Objective

_STATES = {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned", TrialState.FAIL: "failed"}
_MAX_PARAMS_CHARS = 70


def format_params(params: dict[str, Any], limit: int = _MAX_PARAMS_CHARS) -> str:
    """Hyperparameters as ``name=value`` pairs, numbers to 3 significant digits, cut at ``limit``.

    Example:
        >>> format_params({"units": 64, "lr": 0.0012345, "act": "relu"})
        'units=64 lr=0.00123 act=relu'
    """
    text = " ".join(f"{k}={_number(v)}" for k, v in params.items())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _number(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _clock(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class ProgressReporter(Tracker):
    """Prints a search's progress; see the module docstring for what each ``verbose`` shows.

    Args:
        objective: the search's objective, to name and rank values.
        verbose: 0, 1 or 2.
        expected: how many finished trials the search aims at, for the ETA; ``None`` if unknown.
        console: where to print; default standard output.

    Example:
        >>> import hyperflax as hx
        >>> reporter = ProgressReporter(hx.Objective("loss", "min"), verbose=1, expected=10)
    """

    wants_best_model = False

    def __init__(
        self,
        objective: Objective,
        *,
        verbose: int,
        expected: int | None,
        console: Console | None = None,
    ) -> None:
        self.objective = objective
        self.verbose = verbose
        self.expected = expected
        self.console = console or Console(highlight=False)
        self._start = time.monotonic()
        self._done_before = 0
        self._finished_here = 0
        self._best: FrozenTrial | None = None
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def on_search_begin(
        self, study: optuna.Study, *, project_dir: Path, config: dict[str, Any]
    ) -> None:
        """Say which study runs, and how much of it a resumed search already has."""
        self._start = time.monotonic()
        trials = study.get_trials(deepcopy=False)
        self._done_before = sum(t.state in _STATES for t in trials)
        ranked = self.objective.rank(t for t in trials if t.state == TrialState.COMPLETE)
        self._best = ranked[0] if ranked else None
        if self.verbose < 1:
            return
        where = f"{study.study_name} ({project_dir})"
        if self._done_before:
            best = f", best {self.objective.name} {self._best.value:.6g}" if self._best else ""
            self.console.print(
                f"resuming study {where}: {self._done_before} trials done{best}", soft_wrap=True
            )
        else:
            self.console.print(
                f"searching {where}: {self.objective.name} ({self.objective.direction})"
            )
        if self.verbose >= 2 and self.console.is_terminal:
            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[metrics]}"),
                TimeElapsedColumn(),
                console=self.console,
                transient=True,
            )
            self._bar.start()

    def on_trial_begin(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """Start the epoch bar of the trial (``verbose=2`` in a terminal)."""
        if self._bar is not None:
            epochs = (trial.user_attrs.get(keys.PLAN) or {}).get("epochs")
            self._task = self._bar.add_task(f"trial {trial.number}", total=epochs, metrics="")

    def on_trial_metrics(
        self, study: optuna.Study, number: int, metrics: dict[str, float], step: int
    ) -> None:
        """Advance the epoch bar with the latest metrics."""
        if self._bar is not None and self._task is not None:
            shown = " ".join(f"{k}={v:.4g}" for k, v in list(metrics.items())[:4])
            self._bar.update(self._task, completed=step + 1, metrics=shown)

    def on_trial_end(
        self, study: optuna.Study, trial: FrozenTrial, history: dict[str, list[float]] | None
    ) -> None:
        """Print the trial's line: state, value, hyperparameters, duration, best, ETA."""
        if self._bar is not None and self._task is not None:
            self._bar.remove_task(self._task)
            self._task = None
        self._finished_here += trial.state in _STATES
        if (
            trial.state == TrialState.COMPLETE
            and trial.value is not None
            and (
                self._best is None
                or self._best.value is None
                or self.objective.better(trial.value, self._best.value)
            )
        ):
            self._best = trial
        if self.verbose < 1:
            return
        state = _STATES.get(trial.state, trial.state.name.lower())
        value = f"{self.objective.name}={trial.value:.6g}" if trial.value is not None else state
        seconds = trial.duration.total_seconds() if trial.duration else 0.0
        line = f"trial {trial.number:>3} {state:<8} {value}  {format_params(trial.params)}"
        line += f"  {seconds:.1f}s | {self._status()}"
        if trial.state == TrialState.FAIL:
            line += f"\n    {trial.user_attrs.get(keys.ERROR, 'unknown error')}"
        self.console.print(line, markup=False, soft_wrap=True)

    def _status(self) -> str:
        elapsed = time.monotonic() - self._start
        done = self._done_before + self._finished_here
        text = (
            f"best {self._best.value:.6g} (trial {self._best.number})" if self._best else "no best"
        )
        text += f" | {done}/{self.expected}" if self.expected else f" | {done} done"
        text += f" | {_clock(elapsed)}"
        if self.expected and self._finished_here:
            remaining = max(self.expected - done, 0)
            text += f" ETA {_clock(elapsed / self._finished_here * remaining)}"
        return text

    def on_search_end(
        self, study: optuna.Study, *, results: pd.DataFrame, best_model_dir: Path | None
    ) -> None:
        """Close the bar and print the totals."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
        if self.verbose < 1:
            return
        counts = results["state"].value_counts() if len(results) else pd.Series(dtype=int)
        states = ", ".join(f"{n} {s.lower()}" for s, n in counts.items())
        best = (
            f"; best {self.objective.name} {self._best.value:.6g} (trial {self._best.number})"
            if self._best
            else ""
        )
        took = _clock(time.monotonic() - self._start)
        self.console.print(f"search done in {took}: {states or 'no trials'}{best}", soft_wrap=True)
