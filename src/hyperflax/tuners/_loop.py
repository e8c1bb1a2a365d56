"""The trial loop: ask, run, tell; the failure policy, the time limit and Ctrl-C live here only.

Like Optuna's ``study/_optimize.py``, this module is apart from the tuner that users hold: a
tuner decides *what* runs next (:meth:`~hyperflax.tuners.Tuner.next_trial`), its runner *how*
a trial runs, and this loop *when*, and what happens when a trial fails.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from hyperflax import _study_keys as keys
from hyperflax._errors import FatalError, SearchFailedError
from hyperflax.search_spaces import HyperParameters
from hyperflax.tuners import _study
from hyperflax.tuners._plan import TrialPlan
from hyperflax.tuners._runner import TrialContext, TrialResult
from hyperflax.tuners._tracking import GuardedTracker

if TYPE_CHECKING:
    from hyperflax.tuners._tuner import Tuner

logger = logging.getLogger("hyperflax")
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
_WORKER_STEP = 1_000_003  # seed distance between workers of one study


def run_trials(tuner: Tuner, study: optuna.Study, tracker: GuardedTracker) -> bool:
    """Run trials until ``max_trials``, the time limit or the tuner's own plan ends the search.

    Returns:
        Whether the tuner's plan is exhausted (it has nothing more to run, ever).

    Raises:
        SearchFailedError: after ``max_consecutive_failures`` failed trials in a row.
        FatalError: at once, when a trial raises one (bad data, a broken search space, ...).
        KeyboardInterrupt: after marking the running trial failed and queueing it again.
    """
    deadline = None if tuner.time_limit is None else time.monotonic() + tuner.time_limit
    failures = 0
    while deadline is None or time.monotonic() < deadline:
        trial = _next(tuner, study)
        if trial is None or trial is _PLANNED_ALL:
            return trial is _PLANNED_ALL and _nothing_in_flight(study)
        error = _run_trial(tuner, study, trial, tracker)
        failures = failures + 1 if error is not None else 0
        if error is not None and failures >= tuner.max_consecutive_failures:
            raise SearchFailedError(
                f"{failures} trials failed in a row (max_consecutive_failures="
                f"{tuner.max_consecutive_failures}); the last one with: {error}"
            ) from error
    return False


def _nothing_in_flight(study: optuna.Study) -> bool:
    """No trial of the study is running or queued (so an empty plan is final)."""
    in_flight = (TrialState.RUNNING, TrialState.WAITING)
    return not any(t.state in in_flight for t in study.get_trials(deepcopy=False))


#: What ``_next`` returns when the tuner's ``next_trial`` planned nothing more.
_PLANNED_ALL: Any = object()


def seed_for(seed: int, n_trials: int, worker: int) -> int:
    """The sampler seed of a search: the tuner's seed, moved by the study's size and the worker.

    The first worker of a new study samples with ``seed`` itself (the same seed gives the same
    configurations); a resumed search moves on by the trials already there, and each further
    worker of the study by a large step, so workers started together never replay each other.

    Example:
        >>> seed_for(0, 0, 0), seed_for(0, 5, 0), seed_for(0, 0, 1) > 10**6
        (0, 5, True)
    """
    return seed + n_trials + _WORKER_STEP * worker


def visible_trials(trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    """The trials a tuner plans from: all, less failed trials whose configuration was queued again.

    Example:
        >>> visible_trials([])
        []
    """
    retried = {t.user_attrs.get(keys.RETRY_OF) for t in trials} - {None}
    return [t for t in trials if t.number not in retried]


def _next(tuner: Tuner, study: optuna.Study) -> Any:
    """The next trial, claimed: a queued one (a retry, another worker's plan) or the tuner's plan.

    Runs under the scheduling lock, so on one machine the count against ``max_trials``, the
    plan, its queueing and the claim happen as one step.

    Returns:
        The claimed trial; ``None`` once ``max_trials`` is reached; ``_PLANNED_ALL`` when the
        tuner plans nothing more.
    """
    with _study.scheduling_lock(tuner.storage, tuner.project_dir):
        trials = study.get_trials(deepcopy=False)
        if tuner.max_trials is not None:
            counted = sum(t.state in (*FINISHED, TrialState.RUNNING) for t in trials)
            if counted >= tuner.max_trials:
                return None
        if not any(t.state == TrialState.WAITING for t in trials):
            plan = tuner.next_trial(visible_trials(trials))
            if plan is None:
                return _PLANNED_ALL
            if not plan.is_default:
                study.enqueue_trial(dict(plan.params), user_attrs={keys.PLAN: plan.to_attr()})
        trial = study.ask()
        trial.set_user_attr(keys.OWNER, _study.owner_tag())  # owned before the lock is let go
        trial.set_user_attr(keys.HEARTBEAT, time.time())
        return trial


def _run_trial(
    tuner: Tuner, study: optuna.Study, trial: optuna.Trial, tracker: GuardedTracker
) -> BaseException | None:
    """Run one trial and tell the study how it ended; return its error if it failed."""
    context = TrialContext(trial.number, TrialPlan.from_attrs(trial.user_attrs), tuner.objective)
    runner, objective = tuner.runner, tuner.objective
    steps: dict[int, dict[str, float]] = {}

    def report(value: TrialResult, step: int) -> None:
        current = objective.value_of(value)
        trial.report(current, step)
        metrics = dict(value) if isinstance(value, Mapping) else {objective.name: current}
        steps[step] = {name: float(v) for name, v in metrics.items()}
        tracker.trial_metrics(study, trial.number, metrics, step)
        runner.on_report(metrics, current, step, context)
        if trial.should_prune():
            raise optuna.TrialPruned(f"pruned after step {step}")

    hp = HyperParameters._for_trial(trial, report, finite=tuner.finite_space)
    history: dict[str, list[float]] | None = None
    error: Exception | None = None
    try:
        tracker.trial_begin(study, study._storage.get_trial(trial._trial_id))
        with _study.Heartbeat(trial):
            output = runner.run(hp, context)
        history = output.history
        for key, value in output.attrs.items():
            trial.set_user_attr(key, value)
        value = objective.value_of(output.result)
        if not math.isfinite(value):
            raise FloatingPointError(f"objective {objective.name!r} is {value}")
        if isinstance(output.result, Mapping):
            trial.set_user_attr(keys.METRICS, {k: float(v) for k, v in output.result.items()})
        _keep_history(trial, steps)
        frozen = study.tell(trial, value)
    except optuna.TrialPruned:
        _keep_history(trial, steps)
        frozen = study.tell(trial, state=TrialState.PRUNED)
    except KeyboardInterrupt:
        failed = _study.fail_and_retry(
            study, trial, "interrupted by KeyboardInterrupt; configuration retried"
        )
        if failed is not None:
            tracker.trial_end(study, failed, None)
        raise
    except optuna.exceptions.UpdateFinishedTrialError:  # another worker took it over
        logger.warning("trial %d was finished by another worker meanwhile", trial.number)
        return None
    except Exception as exc:
        error = exc
        trial.set_user_attr(keys.ERROR, f"{type(exc).__name__}: {exc}")
        _keep_history(trial, steps)
        frozen = study.tell(trial, state=TrialState.FAIL)
        if not isinstance(exc, FatalError):
            logger.warning("trial %d failed: %s: %s", trial.number, type(exc).__name__, exc)
    tracker.trial_end(study, frozen, history)
    if isinstance(error, FatalError):
        raise error
    return error


def _keep_history(trial: optuna.Trial, steps: dict[int, dict[str, float]]) -> None:
    """Store every reported step's metrics with the trial, as columns (``hx:history``)."""
    if not steps:
        return
    names = list(dict.fromkeys(name for metrics in steps.values() for name in metrics))
    ordered = sorted(steps)
    history: dict[str, list[Any]] = {"step": ordered}
    for name in names:
        history[name] = [steps[s].get(name) for s in ordered]
    trial.set_user_attr(keys.HISTORY, history)
