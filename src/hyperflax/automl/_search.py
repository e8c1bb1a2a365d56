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
from hyperflax.automl._folds import Fold, out_of_fold, validated_rows
from hyperflax.automl._members import (
    Bagged,
    Candidate,
    Member,
    fit_member,
    load_member,
    save_member,
)
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
MAX_STARVED = 3  # networks proposed in a row with too little time left end the search


@dataclass
class Context:
    """What every candidate of one ``fit`` shares: data, folds, task, budget, trained members.

    With one fold (a held-out split) each preprocessor is fit on the training part only; with
    k folds (bagging) it is fit once on every row (target encoding cross-fits its own folds).
    """

    table: pd.DataFrame  # every row, normalized
    targets: np.ndarray
    folds: list[Fold]
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
    fold_populations: bool = False  # a bagged network's folds train in one population
    preprocessors: dict[str, Any] = field(default_factory=dict)
    features: dict[str, np.ndarray] = field(default_factory=dict)
    members: dict[int, Candidate] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rows = validated_rows(self.folds, len(self.targets))
        self.y_scored = self.targets[self.rows]

    @property
    def bagged(self) -> bool:
        """Whether candidates train on k folds (else on one held-out split)."""
        return len(self.folds) > 1

    def prepare(self, kind: str) -> np.ndarray:
        """Every row preprocessed for ``kind`` (float64); the preprocessor is fit once.

        No row's features depend on its own label or on the label of a row it is validated
        against: a held-out split's preprocessor is fit on the training part; with k folds
        target encoding is cross-fit on the same folds (so groups stay apart); time-ordered
        folds fit on the first block, which no fold validates.
        """
        if kind not in self.features:
            n, cv = len(self.table), None
            rows = np.setdiff1d(np.arange(n), self.rows)  # never validated (or none)
            if self.bagged and not len(rows):
                rows, cv = np.arange(n), _one_repeat(self.folds, n)
            fit_rows = self.table.iloc[rows]
            pre = make_preprocessor(
                kind, self.columns, fit_rows, target_type=self.task.target_type, seed=self.seed,
                cv=cv,
            )  # fmt: skip
            fitted = pre.fit_transform(fit_rows, self.targets[rows])
            x = np.empty((n, fitted.shape[1]))
            x[rows] = fitted
            if len(rows) < n:
                rest = np.setdiff1d(np.arange(n), rows)
                x[rest] = pre.transform(self.table.iloc[rest])
            self.preprocessors[kind] = pre
            self.features[kind] = np.asarray(x, np.float64)
        return self.features[kind]

    def split(self, kind: str, fold: int = 0) -> Split:
        """Fold ``fold``'s training and validation rows, preprocessed for ``kind``."""
        x, (train, val) = self.prepare(kind), self.folds[fold]
        return Split(
            x[train], self.targets[train], x[val], self.targets[val],
            n_numerical=len(self.columns.numeric), categorical=categorical_mask(self.columns),
        )  # fmt: skip

    def search_left(self) -> float:
        """Seconds the search may still use."""
        return self.deadline.remaining() - self.reserve


def _one_repeat(folds: list[Fold], n_rows: int) -> list[Fold]:
    """The first folds whose validation rows cover every row once (the first repeat)."""
    seen = 0
    for i, (_, val) in enumerate(folds):
        seen += len(val)
        if seen >= n_rows:
            return folds[: i + 1]
    return folds


def fingerprint(ctx: Context, settings: dict[str, Any]) -> str:
    """A hash of the data, the folds and the settings a study's trials depend on."""
    digest = hashlib.sha256()
    digest.update(pd.util.hash_pandas_object(ctx.table, index=False).to_numpy().tobytes())
    digest.update(json.dumps(list(ctx.table.columns)).encode())
    digest.update(np.ascontiguousarray(ctx.targets).tobytes())
    for train, val in ctx.folds:
        digest.update(train.tobytes() + b"|" + val.tobytes())
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
        self.starved = 0  # network candidates proposed in a row with too little time left

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
            self.starved += 1
            reason = f"{left:.1f} s left: no time for a {family} network"
            if self.starved >= MAX_STARVED or set(ctx.families) <= set(NETWORKS):
                raise TimeLimitError(f"{reason} ({self.starved} proposed in a row)")
            raise optuna.TrialPruned(reason)
        self.starved = 0
        cap = left if ctx.bounded_trials else max(left / 2, min(left, 10.0))
        return family, params, time.monotonic(), cap

    def _score(self, member: Candidate, started: float) -> TrialOutput:
        """Save the member and its out-of-fold predictions; the trial's metrics."""
        ctx = self.ctx
        fit_time = time.monotonic() - started
        x = ctx.prepare(member.preprocessor)
        started = time.monotonic()
        models = member.folds if isinstance(member, Bagged) else [member]
        parts = [m.predict(x[val], ctx.task) for m, (_, val) in zip(models, ctx.folds, strict=True)]
        predictions = out_of_fold(ctx.folds, parts, ctx.rows, len(ctx.targets))
        predict_time = (time.monotonic() - started) / len(ctx.folds)
        path = _path(ctx, "predictions", member.trial).with_suffix(".npy")
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, predictions)
        if ctx.persist:  # skops writes a large boosted model slowly (20,000 trees: seconds)
            save_member(member, _path(ctx, "members", member.trial))
        ctx.members[member.trial] = member
        score = ctx.metric(ctx.y_scored, predictions.astype(np.float64))
        folds = [_fold_score(ctx.metric, ctx.targets[val], p) for (_, val), p in
                 zip(ctx.folds, parts, strict=True)]  # fmt: skip
        metrics = {
            ctx.metric.name: score, "fit_time": fit_time, "predict_time": predict_time,
            "fold_score_mean": float(np.nanmean(folds)) if len(folds) > 1 else score,
            "fold_score_std": float(np.nanstd(folds)) if len(folds) > 1 else float("nan"),
        }  # fmt: skip
        return TrialOutput(metrics)

    def _fit_folds_together(
        self, context: TrialContext, family: str, params: dict[str, Any], started: float, cap: float
    ) -> list[Member]:
        """A bagged network: its k fold models train as one population, one ``vmap``-ed program.

        Every fold model sees the same preprocessed rows (``x`` of every row) and trains on its
        fold's training rows (trimmed to the smallest fold's count, at most one row less),
        validating on its fold's held-out rows. Regression targets are standardized with the
        mean and deviation of every row, which the folds must share.
        """
        ctx = self.ctx
        kind = PREPROCESSOR[family]
        x, y = ctx.prepare(kind), ctx.targets
        scale = None if ctx.task.classification else (float(y.mean()), float(y.std() or 1.0))
        n_rows = min(len(train) for train, _ in ctx.folds)
        networks, members = [], []
        for i, (train, val) in enumerate(ctx.folds):
            network = _networks.prepare_network(
                family, params, ctx.split(kind, i), ctx.task, deadline=started + cap,
                seed=ctx.seed, max_epochs=ctx.preset.max_epochs, patience=ctx.preset.patience,
                target_scale=scale,
            )  # fmt: skip
            networks.append(network)
            members.append(trainers.Member(
                network.trainer, network.epochs, network.callbacks, rows=train[:n_rows],
                validation_rows=val,
            ))  # fmt: skip
        y_all = _networks.scaled_targets(y, ctx.task, scale)
        results = trainers.train_population(
            members, x.astype(np.float32), y_all,
            batch_size=networks[0].data["batch_size"], size=len(members),
        )  # fmt: skip
        for result in results:
            if result.error is not None:
                raise result.error
        return [Member(context.number, family, params, network.state()) for network in networks]

    def _fit(
        self, context: TrialContext, family: str, params: dict[str, Any], started: float, cap: float
    ) -> TrialOutput:
        """Train the candidate on each fold in turn, each fold given its share of the time left.

        Compiling a network's programs (its family's first candidate) does not count against
        ``cap``, only against the search's time. With ``fold_populations``, a bagged network's
        folds train together instead.
        """
        ctx = self.ctx
        if ctx.bagged and ctx.fold_populations and family in NETWORKS:
            folds = self._fit_folds_together(context, family, params, started, cap)
            return self._score(Bagged(context.number, family, params, folds), started)
        end, models, k = started + cap, [], len(ctx.folds)
        latest, compiling = time.monotonic() + ctx.search_left(), 0.0
        for i in range(k):
            now = time.monotonic()
            if i and now + (k - i) * (now - started - compiling) / i > end + 0.25 * cap:
                raise optuna.TrialPruned(f"{k - i} of {k} folds would not end in time")
            deadline = now + (end - now) / (k - i)
            with trainers.CompilationCounter() as counter:
                models.append(fit_member(
                    context.number, family, params, ctx.split(PREPROCESSOR[family], i),
                    ctx.task, deadline=deadline, seed=ctx.seed, preset=ctx.preset,
                    grace=max(0.0, latest - deadline),
                ))  # fmt: skip
            compiling += counter.seconds
            end = min(started + cap + compiling, latest)
        member = Bagged(context.number, family, params, models) if ctx.bagged else models[0]
        return self._score(member, started)

    def run(self, hp: HyperParameters, context: TrialContext) -> TrialOutput:
        """Train one candidate, save its held-out predictions, score them."""
        return self._fit(context, *self._begin(hp))

    def start_member(
        self, hp: HyperParameters, context: TrialContext
    ) -> trainers.Member | TrialOutput:
        """A network candidate as a population member; any other candidate trains at once."""
        ctx = self.ctx
        family, params, started, cap = self._begin(hp)  # a TimeLimitError ends the claims
        if family not in NETWORKS or ctx.bagged:  # a bagged network: its folds, one population
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
    failed = study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
    if not trials and failed:
        raise SearchFailedError(
            f"every candidate failed ({len(failed)}); the last: "
            f"{failed[-1].user_attrs.get(keys.ERROR, 'unknown error')}"
        )
    if not trials:
        raise TimeLimitError(
            f"no candidate model finished within time_limit (the fit ran "
            f"{ctx.deadline.elapsed():.1f} s); raise time_limit"
        )
    run_id = getattr(tuner.tracker, "run_id", lambda number: None)
    runs = {t.number: run_id(t.number) for t in trials}
    return sorted(trials, key=lambda t: t.number), runs


def _fold_score(metric: Metric, y: np.ndarray, predictions: np.ndarray) -> float:
    """The metric on one fold, or NaN where it is undefined there (ROC AUC of one class)."""
    try:
        return metric(y, predictions.astype(np.float64))
    except ValueError:
        return float("nan")


def member_of(ctx: Context, number: int) -> Candidate:
    """The member trained by trial ``number``: in memory, or read back from a resumed study."""
    if number not in ctx.members:
        ctx.members[number] = load_member(_path(ctx, "members", number))
    return ctx.members[number]


def held_out(ctx: Context, number: int) -> np.ndarray | None:
    """Trial ``number``'s saved held-out predictions, or ``None`` when there are none."""
    path = _path(ctx, "predictions", number).with_suffix(".npy")
    return np.load(path, allow_pickle=False).astype(np.float64) if path.exists() else None
