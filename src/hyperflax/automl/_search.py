"""The candidate search: every candidate is a trial of one Optuna study run by a hyperflax tuner."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from hyperflax import _study_keys as keys
from hyperflax import trainers
from hyperflax._errors import SearchFailedError, StudyMismatchError, TimeLimitError
from hyperflax.automl import _networks
from hyperflax.automl._members import Member, fit_member, load_member, save_member
from hyperflax.automl._metrics import Metric
from hyperflax.automl._preprocessing import categorical_mask, make_preprocessor
from hyperflax.automl._space import NETWORKS, PREPROCESSOR, Preset, portfolio, sample
from hyperflax.automl._tables import Columns
from hyperflax.automl._task import Deadline, Split, Task
from hyperflax.search_spaces import HyperParameters
from hyperflax.tuners import (
    BayesianOptimization,
    Objective,
    PopulationRunner,
    SearchArgs,
    TrialContext,
    TrialOutput,
    TrialPlan,
)

logger = logging.getLogger("hyperflax")
MIN_CANDIDATE_S = 0.5  # a candidate does not start with less time left than this
MIN_NETWORK_S = 5.0  # nor a network (its first epoch compiles and cannot be interrupted)


@dataclass
class Context:
    """What every candidate of one ``fit`` shares: data, task, budget and trained members."""

    train: pd.DataFrame
    val: pd.DataFrame
    y_train: np.ndarray
    y_val: np.ndarray
    columns: Columns
    task: Task
    metric: Metric
    families: tuple[str, ...]
    preset: Preset
    seed: int
    deadline: Deadline
    reserve: float  # seconds kept for ensembling and the end of fit
    project: Path
    bounded_trials: bool
    verbose: int = 0
    persist: bool = True  # write members to the project, for a rerun to continue
    preprocessors: dict[str, Any] = field(default_factory=dict)
    splits: dict[str, Split] = field(default_factory=dict)
    members: dict[int, Member] = field(default_factory=dict)

    def split(self, kind: str) -> Split:
        """The data preprocessed for ``kind``; the preprocessor is fit once on the train part."""
        if kind not in self.splits:
            pre = make_preprocessor(
                kind, self.columns, self.train, target_type=self.task.target_type, seed=self.seed
            )
            x_train = np.asarray(pre.fit_transform(self.train, self.y_train), np.float64)
            x_val = np.asarray(pre.transform(self.val), np.float64)
            self.preprocessors[kind] = pre
            self.splits[kind] = Split(
                x_train, self.y_train, x_val, self.y_val,
                n_numerical=len(self.columns.numeric), categorical=categorical_mask(self.columns),
            )  # fmt: skip
        return self.splits[kind]

    def search_left(self) -> float:
        """Seconds the search may still use."""
        return self.deadline.remaining() - self.reserve


def fingerprint(ctx: Context, settings: dict[str, Any]) -> str:
    """A hash of the data and the settings a study's trials depend on."""
    digest = hashlib.sha256()
    for frame in (ctx.train, ctx.val):
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
        digest.update(json.dumps(list(frame.columns)).encode())
    for y in (ctx.y_train, ctx.y_val):
        digest.update(np.ascontiguousarray(y).tobytes())
    digest.update(json.dumps(settings, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def _path(ctx: Context, what: str, number: int) -> Path:
    return ctx.project / what / f"trial_{number:05d}"


class CandidateRunner(PopulationRunner):
    """Trains the candidates of one ``fit``: each trial one model, scored on the held-out part.

    Run one at a time (``population_size=1``), or with network candidates of one family
    training together in populations while scikit-learn candidates run as they come.
    """

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def prepare(self, args: SearchArgs, *, objective: Objective, plans_epochs: bool) -> None:
        """Nothing to check: the estimator checked its data before the search."""

    def _begin(self, hp: HyperParameters) -> tuple[str, dict[str, Any], float, float]:
        """The trial's family and parameters, its start time and its time cap."""
        ctx = self.ctx
        family, params = sample(hp, ctx.families, ctx.task)
        left = ctx.search_left()
        if left < MIN_CANDIDATE_S:
            raise TimeLimitError(f"{left:.1f} s left: no time for another candidate")
        if family in NETWORKS and left < MIN_NETWORK_S:  # a cheaper family may still fit
            raise optuna.TrialPruned(f"{left:.1f} s left: no time for a {family} network")
        cap = left if ctx.bounded_trials else max(left / 2, min(left, 10.0))
        return family, params, time.monotonic(), cap

    def _score(self, member: Member, started: float) -> TrialOutput:
        """Save the member and its held-out predictions; the trial's metrics."""
        ctx = self.ctx
        fit_time = time.monotonic() - started
        data = ctx.split(member.preprocessor)
        started = time.monotonic()
        predictions = member.predict(data.x_val, ctx.task).astype(np.float32)
        predict_time = time.monotonic() - started
        path = _path(ctx, "predictions", member.trial).with_suffix(".npy")
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, predictions)
        if ctx.persist:  # skops writes a large boosted model slowly (20,000 trees: seconds)
            save_member(member, _path(ctx, "members", member.trial))
        ctx.members[member.trial] = member
        score = ctx.metric(ctx.y_val, predictions.astype(np.float64))
        metrics = {ctx.metric.name: score, "fit_time": fit_time, "predict_time": predict_time}
        return TrialOutput(metrics)

    def _fit(
        self, context: TrialContext, family: str, params: dict[str, Any], started: float, cap: float
    ) -> TrialOutput:
        ctx = self.ctx
        member = fit_member(
            context.number, family, params, ctx.split(PREPROCESSOR[family]), ctx.task,
            deadline=started + cap, seed=ctx.seed, preset=ctx.preset,
        )  # fmt: skip
        return self._score(member, started)

    def run(self, hp: HyperParameters, context: TrialContext) -> TrialOutput:
        """Train one candidate, save its held-out predictions, score them."""
        return self._fit(context, *self._begin(hp))

    def start_member(
        self, hp: HyperParameters, context: TrialContext
    ) -> trainers.Member | TrialOutput:
        """A network candidate as a population member; any other candidate trains at once."""
        ctx = self.ctx
        try:
            family, params, started, cap = self._begin(hp)
        except TimeLimitError as error:  # not fatal here: networks still train beside it
            raise optuna.TrialPruned(str(error)) from error
        if family not in NETWORKS:
            return self._fit(context, family, params, started, cap)
        network = _networks.prepare_network(
            family, params, ctx.split(PREPROCESSOR[family]), ctx.task, deadline=started + cap,
            seed=ctx.seed, max_epochs=ctx.preset.max_epochs, patience=ctx.preset.patience,
        )  # fmt: skip
        tag = (context, network, family, params, started)
        return trainers.Member(network.trainer, network.epochs, network.callbacks, tag=tag)

    def population_data(self, member: trainers.Member) -> dict[str, Any]:
        """The family's preprocessed rows: every member of a population is one family."""
        return dict(member.tag[1].data)

    def complete_member(self, result: trainers.MemberResult) -> TrialOutput:
        """Score a trained network candidate as ``run`` does."""
        context, network, family, params, started = result.member.tag
        return self._score(Member(context.number, family, params, network.state()), started)


class PortfolioSearch(BayesianOptimization):
    """TPE over one conditional space of model families, after a zero-shot portfolio.

    The portfolio's configurations run first, in order (best expected value first); then the
    sampler takes over. A resumed study continues where it stopped.

    Args:
        fn: the candidate objective.
        portfolio: Optuna parameters of each zero-shot configuration, in the order to run.
        **options: the arguments of :class:`~hyperflax.tuners.BayesianOptimization`.
    """

    default_max_trials = None  # the time limit ends the search

    def __init__(self, fn: Any, *, portfolio: list[dict[str, Any]], **options: Any) -> None:
        self.portfolio = portfolio
        super().__init__(fn, **options)

    def next_trial(self, trials: Sequence[FrozenTrial]) -> TrialPlan | None:
        """The next portfolio configuration, then whatever the sampler proposes."""
        if len(trials) < len(self.portfolio):
            return TrialPlan(params=self.portfolio[len(trials)], tags={"portfolio": len(trials)})
        return super().next_trial(trials)


def run_search(
    ctx: Context,
    *,
    max_trials: int | None,
    directory: Path,
    project_name: str,
    storage: Any,
    tracker: Any,
    settings: dict[str, Any],
    population_size: int | str = 1,
) -> tuple[list[optuna.trial.FrozenTrial], dict[int, str | None]]:
    """Runs the portfolio, then TPE, until ``max_trials`` or the time left for the search.

    Returns:
        The study's complete trials (in order of trial number) and their MLflow run ids.

    Raises:
        StudyMismatchError: when the project's study was made for other data or settings.
        TimeLimitError: when no candidate finished in time.
    """
    objective = Objective(ctx.metric.name, ctx.metric.direction)
    configs = portfolio(ctx.families, ctx.task)
    tuner = PortfolioSearch(
        CandidateRunner(ctx), portfolio=configs, objective=objective,
        max_trials=max_trials, time_limit=max(ctx.search_left(), 1e-3),
        directory=directory, project_name=project_name, seed=ctx.seed, storage=storage,
        tracker=tracker, num_initial_points=len(configs) + 5, max_consecutive_failures=5,
        verbose=max(0, min(ctx.verbose, 2)), population_size=population_size,
    )  # fmt: skip
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = tuner.study
    finally:
        optuna.logging.set_verbosity(verbosity)
    stamp = fingerprint(ctx, settings)
    if study.user_attrs.get(keys.AUTOML_FINGERPRINT) not in (None, stamp) or (
        keys.AUTOML_FINGERPRINT not in study.user_attrs and study.get_trials(deepcopy=False)
    ):
        raise StudyMismatchError(
            f"the study {project_name!r} in {str(directory)!r} was made for other data or "
            f"settings and cannot be resumed; pass another project_name or directory, or the "
            f"same X, y and settings as before"
        )
    if keys.AUTOML_FINGERPRINT not in study.user_attrs:
        study.set_user_attr(keys.AUTOML_FINGERPRINT, stamp)
    if ctx.search_left() > MIN_CANDIDATE_S:
        tuner.time_limit = ctx.search_left()
        try:
            tuner.search()
        except (TimeLimitError, SearchFailedError) as error:
            logger.info("the search stopped: %s", error)
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not trials:
        raise TimeLimitError(
            f"no candidate model finished within time_limit (the fit ran "
            f"{ctx.deadline.elapsed():.1f} s); raise time_limit"
        )
    run_id = getattr(tuner.tracker, "run_id", lambda number: None)
    runs = {t.number: run_id(t.number) for t in trials}
    return sorted(trials, key=lambda t: t.number), runs


def member_of(ctx: Context, number: int) -> Member:
    """The member trained by trial ``number``: in memory, or read back from a resumed study."""
    if number not in ctx.members:
        ctx.members[number] = load_member(_path(ctx, "members", number))
    return ctx.members[number]


def held_out(ctx: Context, number: int) -> np.ndarray | None:
    """Trial ``number``'s saved held-out predictions, or ``None`` when there are none."""
    path = _path(ctx, "predictions", number).with_suffix(".npy")
    return np.load(path, allow_pickle=False).astype(np.float64) if path.exists() else None
