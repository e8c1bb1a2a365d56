"""The trial loop: ask, run, tell; the failure policy, the time limit and Ctrl-C live here only.

Like Optuna's ``study/_optimize.py``, this module is apart from the tuner that users hold: a
tuner decides *what* runs next (:meth:`~hyperflax.tuners.Tuner.next_trial`), its runner *how*
a trial runs, and this loop *when*, and what happens when a trial fails.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from hyperflax import _study_keys as keys
from hyperflax._errors import FatalError, SearchFailedError, TimeLimitError
from hyperflax.search_spaces import HyperParameters
from hyperflax.tuners import _study
from hyperflax.tuners._plan import TrialPlan
from hyperflax.tuners._runner import TrialContext, TrialOutput, TrialResult
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
        FatalError: at once, when a trial raises one (bad data, a broken search space, ...);
            with populations a ``TimeLimitError`` instead ends the search once the trials
            still training have ended.
        KeyboardInterrupt: after marking the running trial failed and queueing it again.
    """
    deadline = None if tuner.time_limit is None else time.monotonic() + tuner.time_limit
    size = tuner.population_size
    size = tuner.runner.auto_population_size() if size == "auto" else size
    if size > 1:
        return _run_populations(tuner, study, tracker, deadline, size)
    failures = _Failures(tuner.max_consecutive_failures)
    ahead = _Ahead(tuner, study, tracker, deadline)
    try:
        while deadline is None or time.monotonic() < deadline:
            running = ahead.take()
            if running is None:
                trial = _next(tuner, study)
                if trial is None:
                    return False
                if trial is _OTHERS_RUNNING:  # one may die: its retry is then ours to run
                    _wait_for_other_workers(tuner, study)
                    continue
                if trial is _PLANNED_ALL:
                    if _nothing_in_flight(study):
                        return True
                    _wait_for_other_workers(tuner, study)  # their trials may give the plan more
                    continue
                running = _Running(tuner, study, trial, tracker)
            failures.add(_run_trial(tuner, running, ahead))
        return False
    finally:
        ahead.release()


#: How long a worker whose tuner plans nothing now waits before asking the plan again.
WAIT_S = 0.5


def _wait_for_other_workers(tuner: Tuner, study: optuna.Study) -> None:
    """Sleep, then recover trials whose worker died, so waiting on them never hangs."""
    time.sleep(WAIT_S)
    with _study.scheduling_lock(tuner.storage, tuner.project_dir):
        _study.recover_stale_trials(study)


class _Failures:
    """Counts failed trials in a row; raises when the search must stop."""

    def __init__(self, limit: int) -> None:
        self.limit, self.count = limit, 0

    def add(self, error: BaseException | None) -> None:
        self.count = self.count + 1 if error is not None else 0
        if isinstance(error, FatalError):
            raise error
        if error is not None and self.count >= self.limit:
            raise SearchFailedError(
                f"{self.count} trials failed in a row (max_consecutive_failures="
                f"{self.limit}); the last one with: {error}"
            ) from error


def _run_populations(
    tuner: Tuner, study: optuna.Study, tracker: GuardedTracker, deadline: float | None, size: int
) -> bool:
    """Like ``run_trials``, with ``population_size`` trials training at once.

    The runner asks for a trial whenever a slot is free (``claim``) and reports each trial as
    soon as it ends (``finish``), so Hyperband promotes a finished round while other trials
    still train. When the tuner's plan waits for running trials, the next claim is tried again
    once one of them has ended.
    """
    running: dict[int, _Running] = {}
    failures = _Failures(tuner.max_consecutive_failures)
    ended = False
    planned_all_at: int | None = None  # trials finished when the plan last said "nothing now"
    finished = 0

    def claim() -> tuple[HyperParameters, TrialContext] | None:
        nonlocal ended, planned_all_at
        if ended or (deadline is not None and time.monotonic() >= deadline):
            ended, planned_all_at = True, None  # the plan was not asked: not exhausted
            return None
        if planned_all_at == finished:
            return None
        trial = _next(tuner, study)
        while trial is _OTHERS_RUNNING and not running:
            _wait_for_other_workers(tuner, study)
            trial = _next(tuner, study)
        if trial is None:
            ended, planned_all_at = True, None
            return None
        if trial is _PLANNED_ALL or trial is _OTHERS_RUNNING:
            planned_all_at = finished  # ask again once one of ours has ended
            return None
        planned_all_at = None
        item = _Running(tuner, study, trial, tracker)
        running[trial.number] = item
        item.begin()
        return item.hp, item.context

    def finish(context: TrialContext, outcome: TrialOutput | Exception) -> None:
        nonlocal finished, ended
        finished += 1
        error = running.pop(context.number).finish(outcome)
        if isinstance(error, TimeLimitError):  # no new trials; the running ones end theirs
            ended = True
            return
        failures.add(error)

    try:
        tuner.runner.run_population(claim, finish, size=size)
    except BaseException:
        for item in running.values():
            try:
                item.interrupt()
            except Exception as error:  # the others are still interrupted; the cause goes on
                logger.warning("trial %d was not re-queued: %s", item.trial.number, error)
        raise
    return planned_all_at == finished and _nothing_in_flight(study)


def _nothing_in_flight(study: optuna.Study) -> bool:
    """No trial of the study is running or queued (so an empty plan is final)."""
    in_flight = (TrialState.RUNNING, TrialState.WAITING)
    return not any(t.state in in_flight for t in study.get_trials(deepcopy=False))


#: What ``_next`` returns when the tuner's ``next_trial`` planned nothing more.
_PLANNED_ALL: Any = object()
#: What ``_next`` returns at ``max_trials`` while other workers' trials still run.
_OTHERS_RUNNING: Any = object()


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
        The claimed trial; ``None`` once ``max_trials`` is reached, or ``_OTHERS_RUNNING`` while
        other workers' trials count towards it (so a worker stays until the study is done and
        runs the retry of a trial whose worker died); ``_PLANNED_ALL`` when the tuner plans
        nothing more.
    """
    with _study.scheduling_lock(tuner.storage, tuner.project_dir):
        trials = study.get_trials(deepcopy=False)
        if tuner.max_trials is not None:
            counted = sum(t.state in (*FINISHED, TrialState.RUNNING) for t in trials)
            if counted >= tuner.max_trials:
                me = _study.owner_tag()
                others = (
                    t.user_attrs.get(keys.OWNER) != me
                    for t in trials
                    if t.state == TrialState.RUNNING
                )
                return _OTHERS_RUNNING if any(others) else None
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


class _Running:
    """One claimed trial while it runs: its hyperparameters, its reports, then its ending."""

    def __init__(
        self, tuner: Tuner, study: optuna.Study, trial: optuna.Trial, tracker: GuardedTracker
    ) -> None:
        self.study, self.trial, self.tracker = study, trial, tracker
        self.objective = tuner.objective
        self.context = TrialContext(
            trial.number, TrialPlan.from_attrs(trial.user_attrs), tuner.objective
        )
        self.steps: dict[int, dict[str, float]] = {}
        self._runner = tuner.runner
        self.hp = HyperParameters._for_trial(trial, self._report, finite=tuner.finite_space)
        self._heartbeat = _study.Heartbeat(trial)
        self._holding = False

    def _report(self, value: TrialResult, step: int) -> None:
        current = self.objective.value_of(value)
        self.trial.report(current, step)
        metrics = dict(value) if isinstance(value, Mapping) else {self.objective.name: current}
        self.steps[step] = {name: float(v) for name, v in metrics.items()}
        self.tracker.trial_metrics(self.study, self.trial.number, metrics, step)
        self._runner.on_report(metrics, current, step, self.context)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned after step {step}")

    def hold(self) -> None:
        """Start the heartbeat of a claimed trial (other workers leave it alone)."""
        if not self._holding:
            self._holding = True
            self._heartbeat.__enter__()

    def begin(self) -> None:
        """Tell the trackers and start the heartbeat."""
        self.tracker.trial_begin(self.study, self.study._storage.get_trial(self.trial._trial_id))
        self.hold()

    def release(self) -> None:
        """Give a claimed trial that did not start back to the queue (WAITING)."""
        self._heartbeat.__exit__()
        try:
            self.study._storage.set_trial_state_values(self.trial._trial_id, TrialState.WAITING)
        except Exception as error:  # finished by another worker, or the storage is down
            logger.warning("trial %d was not put back in the queue: %s", self.trial.number, error)

    def interrupt(self) -> None:
        """Mark the trial failed and queue its configuration again (Ctrl-C, a fatal error)."""
        self._heartbeat.__exit__()
        failed = _study.fail_and_retry(
            self.study, self.trial, "interrupted by KeyboardInterrupt; configuration retried"
        )
        if failed is not None:
            self.tracker.trial_end(self.study, failed, None)

    def finish(self, outcome: TrialOutput | Exception) -> Exception | None:
        """Tell the study how the trial ended; return its error if it failed."""
        self._heartbeat.__exit__()
        try:
            return self._tell(outcome)
        except optuna.exceptions.UpdateFinishedTrialError:  # another worker took it over
            logger.warning("trial %d was finished by another worker meanwhile", self.trial.number)
            return None

    def _tell(self, outcome: TrialOutput | Exception) -> Exception | None:
        trial, history = self.trial, None
        try:
            if isinstance(outcome, Exception):
                raise outcome
            history = outcome.history
            for key, value in outcome.attrs.items():
                trial.set_user_attr(key, value)
            value = self.objective.value_of(outcome.result)
            if not math.isfinite(value):
                raise FloatingPointError(f"objective {self.objective.name!r} is {value}")
            if isinstance(outcome.result, Mapping):
                metrics = {k: float(v) for k, v in outcome.result.items()}
                trial.set_user_attr(keys.METRICS, metrics)
            _keep_history(trial, self.steps)
            frozen = self.study.tell(trial, value)
            error = None
        except optuna.TrialPruned:
            _keep_history(trial, self.steps)
            frozen, error = self.study.tell(trial, state=TrialState.PRUNED), None
        except optuna.exceptions.UpdateFinishedTrialError:
            raise
        except Exception as exc:
            error = exc
            trial.set_user_attr(keys.ERROR, f"{type(exc).__name__}: {exc}")
            _keep_history(trial, self.steps)
            frozen = self.study.tell(trial, state=TrialState.FAIL)
            if not isinstance(exc, FatalError):
                logger.warning("trial %d failed: %s: %s", trial.number, type(exc).__name__, exc)
        self.tracker.trial_end(self.study, frozen, history)
        return error


def _run_trial(tuner: Tuner, running: _Running, ahead: _Ahead) -> BaseException | None:
    """Run one trial and tell the study how it ended; return its error if it failed.

    Once its model is built, ``ahead`` may claim the next trial and compile its programs.
    """
    started = time.monotonic()
    try:
        running.begin()
        context = dataclasses.replace(running.context, built=ahead.start)
        outcome: TrialOutput | Exception = tuner.runner.run(running.hp, context)
    except KeyboardInterrupt:
        running.interrupt()
        raise
    except Exception as exc:
        outcome = exc
    ahead.learn(time.monotonic() - started)
    return running.finish(outcome)


#: Compile ahead when a trial's compiling and training overlap by at least this fraction
#: of the longer of the two, and by this many seconds.
AHEAD_PAYS = 0.15
AHEAD_MIN_S = 0.25


class _Ahead:
    """The next trial, claimed as the current one starts, its programs compiled in a thread.

    With ``compile_ahead="auto"`` it starts once a trial other than the search's first has
    compiled programs of its own (shapes that change between trials) for a good part of its
    time (see :meth:`learn`). A claimed trial that does not start (the time
    limit, an error, Ctrl-C) goes back to the queue as WAITING.
    """

    def __init__(
        self, tuner: Tuner, study: optuna.Study, tracker: GuardedTracker, deadline: float | None
    ) -> None:
        self.tuner, self.study, self.tracker, self.deadline = tuner, study, tracker, deadline
        self.on = tuner.compile_ahead is True
        self.ran = 0  # trials run by this search
        self.last_s = 0.0  # the last trial's duration
        self.claimed: _Running | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        """Claim the next trial and compile its programs in a thread, when that can pay.

        Called once the current trial's hyperparameters are sampled, so the next trial's are
        sampled after them, as one at a time.
        """
        if not self.on or self.claimed is not None:
            return
        if self.deadline is not None and time.monotonic() + 2 * self.last_s > self.deadline:
            return  # it would likely not start before the time limit
        trial = _next(self.tuner, self.study)
        if not isinstance(trial, optuna.Trial):  # max_trials, or the plan waits: none ahead
            return
        self.claimed = _Running(self.tuner, self.study, trial, self.tracker)
        self.claimed.hold()
        runner, hp, context = self.tuner.runner, self.claimed.hp, self.claimed.context
        self.thread = threading.Thread(
            target=_compile_quietly, args=(runner, hp, context), name="hyperflax-compile-ahead",
            daemon=True,
        )  # fmt: skip
        self.thread.start()

    def learn(self, seconds: float) -> None:
        """After a trial that took ``seconds``: whether compiling ahead pays from now on.

        ``"auto"`` turns it on when a trial after the search's first compiled programs of its
        own and overlapping its compiling with its training would have saved 15% of its time
        and a quarter of a second or more (the shorter of the two at least that much, and 15%
        of the longer), on an accelerator: see :meth:`Runner.overlap`.
        """
        self.last_s = seconds
        compiling, training = self.tuner.runner.overlap()
        if self.tuner.compile_ahead == "auto" and self.ran and compiling > 0:
            saved = min(compiling, training)
            self.on = saved >= max(AHEAD_MIN_S, AHEAD_PAYS * max(compiling, training))
        self.ran += 1

    def take(self) -> _Running | None:
        """The claimed trial, its compilation done; ``None`` when none was claimed."""
        claimed, self.claimed = self.claimed, None
        if self.thread is not None:
            self.thread.join()
            self.thread = None
        return claimed

    def release(self) -> None:
        """Put a claimed trial that will not run back in the queue."""
        claimed, self.claimed = self.claimed, None
        if claimed is not None:
            claimed.release()


def _compile_quietly(runner: Any, hp: HyperParameters, context: TrialContext) -> None:
    """Compile ahead; a failure only means the trial compiles (and fails) itself."""
    try:
        runner.compile_ahead(hp, context)
    except Exception:
        logger.debug("compiling trial %d ahead failed", context.number, exc_info=True)


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
