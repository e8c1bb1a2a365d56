"""``ImageClassifier`` and ``ImageRegressor``: Hyperband over image networks, then an ensemble."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import optuna
import pandas as pd
from flax import nnx
from optuna.trial import FrozenTrial, TrialState
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.validation import check_is_fitted

from hyperflax import _npz
from hyperflax._errors import DataError, SearchFailedError, TimeLimitError
from hyperflax.automl._ensemble import greedy_ensemble
from hyperflax.automl._folds import holdout
from hyperflax.automl._image_space import (
    FAMILIES,
    ImageSpace,
    ImageTask,
    image_loss,
    outputs_of,
    warm_start,
)
from hyperflax.automl._metrics import resolve_metric
from hyperflax.automl._networks import DeadlineStop
from hyperflax.automl._tables import check_target
from hyperflax.automl._task import Deadline, Task, check_search_params
from hyperflax.search_spaces import HyperParameters
from hyperflax.trainers import (
    Callback,
    CompilationCounter,
    Trainer,
    assign_model_arrays,
    model_arrays,
)
from hyperflax.tuners import Hyperband, Objective, TrialPlan
from hyperflax.tuners._hyperband import Rung
from hyperflax.tuners._training import trial_trainer

#: preset: (Hyperband's longest training in epochs, widths of the first stage)
PRESETS = {"fast": (9, (16,)), "medium": (27, (16, 32)), "best": (81, (16, 32, 64))}
ENSEMBLE_CANDIDATES = 10  # the best trials whose held-out predictions the ensemble chooses from
#: Assumed cost of the first program's first (compiling) epoch, before any is measured: a
#: CNN compiles in 5-8 s on an idle 2-core CPU and in up to 20 s on a loaded one.
FIRST_EPOCH_S = 15.0
#: Hyperband's longest training when measured epochs leave room for more than a preset's.
MAX_EPOCHS = 243
#: The other families' epochs against the first warm-start network's (measured on digits:
#: ResNet 1.7x, ConvNeXt 1.2x, the two-block ResNet 3x); the measured first epoch, less its
#: compilation, already overstates a later one (digits: 0.34 s against 0.19 s).
SLOWER_FAMILIES = 1.5
_MANIFEST = "automl.json"
_FORMAT = 2


def check_images(X: Any, name: str = "X") -> np.ndarray:
    """``X`` as a float32 ``(n, height, width, channels)`` array.

    Raises:
        DataError: for a rank other than 3 or 4, images of mixed sizes, no images, non-numeric
            or non-finite pixels.

    Example:
        >>> check_images(np.zeros((2, 8, 8), np.uint8)).shape
        (2, 8, 8, 1)
    """
    if isinstance(X, list | tuple):
        shapes = {np.shape(image) for image in X}
        if len(shapes) > 1:
            raise DataError(
                f"`{name}` must hold images of one size, got {len(shapes)} shapes "
                f"({sorted(shapes)[:3]}...); resize them to one height and width first"
            )
    array = np.asarray(X)
    if array.ndim not in (3, 4):
        raise DataError(
            f"`{name}` must be images of shape (n, height, width) or (n, height, width, "
            f"channels), got an array of shape {array.shape}"
        )
    if not len(array) or 0 in array.shape:
        raise DataError(f"`{name}` must hold at least one non-empty image, got shape {array.shape}")
    if array.dtype.kind not in "biuf":
        raise DataError(
            f"`{name}` must hold numbers (uint8 or float pixels), got dtype {array.dtype}"
        )
    images = array.astype(np.float32).reshape(*array.shape[:3], -1)
    if not np.isfinite(images).all():
        raise DataError(f"`{name}` must not contain NaN or infinite pixels; clean them first")
    return images


class _BudgetedSpace(ImageSpace):
    """The space of one ``fit``: a trial starts only when its first epoch fits in the budget."""

    def __init__(self, task: ImageTask, *, precision: str, end: float) -> None:
        super().__init__(task, precision=precision)
        self.end: float | None = end  # None once the search is over (loading models)
        self.first_epoch: dict[tuple[str, int], float] = {}  # by program, the latest
        self.compiling: float | None = None  # the longest first epoch: a new program's

    def check_start(self, family: str, width: int) -> None:
        """Refuses the candidate when the time left does not cover its program's first epoch.

        Raises:
            optuna.TrialPruned: when another program's first epoch would fit.
            TimeLimitError: when nothing fits (the search ends).
        """
        if self.end is None:
            return
        left = self.end - time.monotonic()
        if left < 1.0:
            raise TimeLimitError(f"{left:.1f} s left: no time for another candidate")
        key = (family, width)
        needed = self.first_epoch.get(key, self.compiling or FIRST_EPOCH_S)
        if left < needed:  # the first epoch cannot be interrupted
            message = f"{left:.1f} s left: a first {key} epoch takes {needed:.1f} s"
            if min(self.first_epoch.values(), default=np.inf) <= left:
                raise optuna.TrialPruned(message)  # the sampler may pick one that fits
            raise TimeLimitError(message)


class WarmStartHyperband(Hyperband):
    """Hyperband, least exploratory bracket first, whose first configurations are a fixed list.

    Under a time limit the brackets run in reverse: the warm-start configurations train to
    the full budget first, so a short fit still ends with well-trained networks; the
    exploratory brackets (many configurations, few epochs) come after.
    """

    def __init__(self, hypermodel: Any, *, warm: list[dict[str, Any]], **options: Any) -> None:
        self.warm = warm
        super().__init__(hypermodel, **options)

    def brackets(self) -> list[list[Rung]]:
        """Each iteration's brackets, least exploratory first."""
        brackets = super().brackets()
        per_iteration = len(brackets) // self.hyperband_iterations
        return [
            bracket
            for start in range(0, len(brackets), per_iteration)
            for bracket in reversed(brackets[start : start + per_iteration])
        ]

    def next_trial(self, trials: Sequence[FrozenTrial]) -> TrialPlan | None:
        """Hyperband's next rung member; a new configuration comes from the list first."""
        plan = super().next_trial(trials)
        fresh = sum(TrialPlan.of(t).continues is None for t in trials)
        if plan is None or plan.continues is not None or fresh >= len(self.warm):
            return plan
        return dataclasses.replace(plan, params=self.warm[fresh])


class ImageEnsemble(nnx.Module):
    """Pixel normalization, the ensemble's networks and their weights, as one module.

    Classification returns the log of the weighted mean probability of each class (so a
    softmax gives the probabilities back); regression the weighted mean value, shape
    ``(n, 1)``. With ``flip``, each prediction is the mean of the image's and its mirror's.
    """

    def __init__(
        self,
        members: Sequence[nnx.Module],
        weights: Sequence[float],
        mean: np.ndarray,
        std: np.ndarray,
        *,
        classification: bool,
        flip: bool,
        target_scale: tuple[float, float] = (0.0, 1.0),
    ) -> None:
        self.members = nnx.List(members)  # ImageModel
        self.weights = nnx.Variable(jnp.asarray(weights, jnp.float32))
        self.mean = nnx.Variable(jnp.asarray(mean, jnp.float32))
        self.std = nnx.Variable(jnp.asarray(std, jnp.float32))
        self.scale = nnx.Variable(jnp.asarray(target_scale, jnp.float32))
        self.classification = classification
        self.flip = flip

    def __call__(self, x: jax.Array) -> jax.Array:
        """Maps raw ``(n, height, width, channels)`` pixels to the ensemble's output."""
        x = (x.astype(jnp.float32) - self.mean[...]) / self.std[...]
        views = [x, x[:, :, ::-1]] if self.flip else [x]
        total = 0.0
        for weight, member in zip(self.weights[...], self.members, strict=False):
            for view in views:
                out = outputs_of(member(view)).astype(jnp.float32)
                total = total + weight * (jax.nn.softmax(out) if self.classification else out)
        total = total / len(views)
        if self.classification:
            return jnp.log(jnp.maximum(total, 1e-12))
        return total * self.scale[1] + self.scale[0]


def image_batch_size(n: int) -> int:
    """A power of two near ``n / 24`` within 16..128: small data gets more steps per epoch.

    Example:
        >>> image_batch_size(800), image_batch_size(100_000)
        (32, 128)
    """
    return min(128, max(16, 1 << int(np.log2(max(n, 1) / 24))))


def longest_training(room: float, floor: int, *, factor: int = 3) -> int:
    """Hyperband's longest training (epochs) when the search has ``room`` epochs of time.

    The largest ``R`` from ``floor`` to ``MAX_EPOCHS`` whose least exploratory bracket, the
    warm-start configurations run first (``s_max + 1`` of them at ``R`` epochs), fits in
    ``room``: a long budget trains its first networks longer instead of trying more short ones.

    Example:
        >>> longest_training(100.0, 9), longest_training(10.0, 9), longest_training(1e6, 9)
        (26, 9, 243)
    """
    best = floor
    for epochs in range(floor, MAX_EPOCHS + 1):
        s_max = math.floor(math.log(epochs) / math.log(factor) + 1e-9)
        if (s_max + 1) * epochs <= room:
            best = epochs
    return best


def _epoch_seconds(
    space: _BudgetedSpace,
    config: dict[str, Any],
    data: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    *,
    batch: int,
    seed: int,
) -> float | None:
    """Seconds of one epoch of ``config``, measured; ``None`` when it would not fit.

    Trains ``config`` one epoch, which compiles the programs every trial of its family and
    width then shares (the schedule's length is data: choosing it afterwards compiles nothing
    new); the epoch's time less the time spent compiling is what an epoch costs.
    """
    try:
        trainer = trial_trainer(space, HyperParameters(config), seed)  # as the trial builds it
    except (TimeLimitError, optuna.TrialPruned):
        return None  # the search says why
    started = time.monotonic()
    with CompilationCounter() as compiling:
        trainer.fit(*data, validation_data=validation, epochs=1, batch_size=batch,
                    callbacks=[_FirstEpochClocks(space)])  # fmt: skip
    epoch = max(time.monotonic() - started - compiling.seconds, 1e-3)
    space.first_epoch[(config["family"], config["width"])] = epoch  # compiled now
    return epoch


def _space_task(est: Any, shape: tuple[int, ...], n_outputs: int, steps: int) -> ImageTask:
    widths = PRESETS[est.presets][1]
    return ImageTask(
        (shape[0], shape[1], shape[2]), n_outputs, est._classification, bool(est.flip),
        widths, steps,
    )  # fmt: skip


def _predict(model: nnx.Module, x: np.ndarray) -> np.ndarray:
    """``model``'s outputs for ``x`` in eval mode; batches padded to a power of two."""
    n = len(x)
    size = min(256, 1 << max(0, (n - 1).bit_length()))
    padded = np.zeros((-(-n // size) * size, *x.shape[1:]), np.float32)
    padded[:n] = x
    trainer = Trainer(model, optax.identity(), image_loss, devices=jax.local_devices()[:1])
    return np.asarray(trainer.predict(padded, batch_size=size)[:n], np.float64)


class _Images(BaseEstimator):
    """The search-and-ensemble machinery of both image estimators (see their docstrings)."""

    _classification = True

    def __init__(
        self,
        *,
        time_limit: float = 300,
        presets: str = "medium",
        metric: str | None = None,
        max_trials: int | None = None,
        seed: int = 0,
        flip: bool = False,
        directory: str | os.PathLike[str] | None = None,
        project_name: str = "automl_images",
        tracker: Any = None,
        verbose: int = 0,
        population_size: int | str = 1,
    ) -> None:
        self.time_limit = time_limit
        self.presets = presets
        self.metric = metric
        self.max_trials = max_trials
        self.seed = seed
        self.flip = flip
        self.directory = directory
        self.project_name = project_name
        self.tracker = tracker
        self.verbose = verbose
        self.population_size = population_size

    def _check_params(self) -> None:
        check_search_params(self, PRESETS)
        if not isinstance(self.flip, bool | np.bool_):
            raise ValueError(f"`flip` must be True or False, got {self.flip!r}")
        resolve_metric(self.metric, self._classification)

    def _encode_target(self, y: np.ndarray) -> tuple[np.ndarray, Task]:
        return y.astype(np.float64), Task("regression")

    def fit(self, X: Any, y: Any) -> Any:
        """Searches image networks within ``time_limit`` and ensembles the best of them.

        Args:
            X: Images: an array of shape ``(n, height, width)`` or ``(n, height, width,
                channels)``, uint8 or float pixels.
            y: Class labels (str, int, bool), or numbers for the regressor.

        Returns:
            self.

        Raises:
            DataError: for invalid images or targets, before any training.
            TimeLimitError: when not even one network could be trained within ``time_limit``.
            SearchFailedError: when every candidate failed (the last one's error is given).
        """
        self._check_params()
        deadline = Deadline(float(self.time_limit))
        images = check_images(X)
        y_checked = check_target(y, len(images), classification=self._classification)
        if len(images) < 4:
            raise DataError(
                f"`X` must hold at least 4 images to train and validate, got {len(images)}"
            )
        targets, task = self._encode_target(y_checked)
        metric = resolve_metric(self.metric, task.classification)
        ((train, val),) = holdout(targets, task, seed=self.seed)
        mean = images[train].mean(axis=(0, 1, 2))
        std = images[train].std(axis=(0, 1, 2)) + 1e-6
        x = (images - mean) / std
        scale = (0.0, 1.0)
        fit_targets = targets.astype(np.int32)
        if not task.classification:
            scale = (float(targets[train].mean()), float(targets[train].std() or 1.0))
            fit_targets = ((targets - scale[0]) / scale[1]).astype(np.float32)
        batch = image_batch_size(len(train))
        steps = max(1, len(train) // batch)
        max_epochs = PRESETS[self.presets][0]
        n_outputs = task.n_classes if task.classification else 1
        space_task = _space_task(self, images.shape[1:], n_outputs, max_epochs * steps)
        reserve = min(0.2 * self.time_limit, 3.0 + 0.08 * self.time_limit)  # ensemble, predictions
        precision = "float32" if jax.default_backend() == "cpu" else "bfloat16"
        space = _BudgetedSpace(space_task, precision=precision, end=deadline.at - reserve)
        warm = warm_start(space_task)
        if self.max_trials is None:  # a trial-count budget stays deterministic: no clock in it
            epoch = _epoch_seconds(
                space, warm[0], (x[train], fit_targets[train]), (x[val], fit_targets[val]),
                batch=batch, seed=self.seed,
            )  # fmt: skip
            if epoch is not None:
                budget = (space.end or 0.0) - time.monotonic()
                max_epochs = longest_training(budget / (SLOWER_FAMILIES * epoch), max_epochs)
                space.task = dataclasses.replace(space.task, schedule_steps=max_epochs * steps)
        with tempfile.TemporaryDirectory(prefix="hx_automl_images_") as scratch:
            directory = Path(scratch if self.directory is None else self.directory)
            tuner = WarmStartHyperband(
                space, warm=warm, objective=Objective("val_loss", "min"),
                max_epochs=max_epochs, factor=3, hyperband_iterations=20,
                max_trials=self.max_trials, time_limit=max(deadline.remaining() - reserve, 1e-3),
                directory=directory, project_name=self.project_name, seed=self.seed,
                storage=optuna.storages.InMemoryStorage() if self.directory is None else None,
                tracker=self.tracker, verbose=max(0, min(self.verbose, 2)),
                max_consecutive_failures=5, population_size=self.population_size,
            )  # fmt: skip
            clock = _FirstEpochClocks(space)
            cache = getattr(jax.config, "jax_compilation_cache_dir", None)
            try:
                tuner.search(
                    x[train], fit_targets[train], validation_data=(x[val], fit_targets[val]),
                    batch_size=batch, callbacks=[DeadlineStop(space.end or 0.0), clock],
                )  # fmt: skip
            except (TimeLimitError, SearchFailedError):
                pass  # whatever finished is used below
            finally:
                if self.directory is None and cache is None:  # the cache was in the scratch
                    _forget_compilation_cache()
            space.end = None
            trials = self._finished(tuner)
            best = tuner.get_best_trials(min(ENSEMBLE_CANDIDATES, len(trials)))
            models = tuner.runner.load_models(best)
            runs = {t.number: getattr(tuner.tracker, "run_id", lambda n: None)(t.number)
                    for t in trials}  # fmt: skip
        self._ensemble(models, best, trials, runs, x[val], targets[val], metric, deadline)
        self.channel_mean_, self.channel_std_ = mean, std
        self.target_scale_ = scale
        self.image_shape_ = tuple(int(d) for d in images.shape[1:])
        self.n_features_in_ = int(np.prod(self.image_shape_))
        self.metric_ = metric.name
        self.task_ = task
        self._task_spec = space.task
        self.ensemble_ = self._assemble()
        return self

    @staticmethod
    def _finished(tuner: Hyperband) -> list[FrozenTrial]:
        study = tuner.study
        trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if trials:
            return trials
        failed = study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
        if failed:
            raise SearchFailedError(
                f"every candidate failed ({len(failed)}); the last: "
                f"{failed[-1].user_attrs.get('hx:error', 'unknown error')}"
            )
        raise TimeLimitError(
            "no network finished a first epoch within time_limit; raise time_limit"
        )

    def _ensemble(
        self,
        models: list[nnx.Module],
        best: list[FrozenTrial],
        trials: list[FrozenTrial],
        runs: dict[int, str | None],
        x_val: np.ndarray,
        y_val: np.ndarray,
        metric: Any,
        deadline: Deadline,
    ) -> None:
        """Greedy ensemble selection over the best trials' held-out predictions."""
        predictions, times = [], {}
        for trial, model in zip(best, models, strict=True):
            started = time.monotonic()
            predictions.append(self._member_predictions(model, x_val))
            times[trial.number] = time.monotonic() - started
        weights = greedy_ensemble(predictions, y_val, metric, deadline=deadline.at)
        weight_of = {t.number: float(w) for t, w in zip(best, weights, strict=True)}
        score_of = {t.number: metric(y_val, p) for t, p in zip(best, predictions, strict=True)}
        ensemble = sum(w * p for w, p in zip(weights, predictions, strict=True))
        self.validation_score_ = metric(y_val, ensemble)
        self.members_ = [
            (model, dict(t.params), float(w))
            for t, model, w in zip(best, models, weights, strict=True)
            if w > 0
        ]
        rows = []
        for t in sorted(trials, key=lambda t: (t.value, t.number)):
            rows.append({
                "model": f"trial_{t.number}_{t.params['family']}", "family": t.params["family"],
                "hyperparameters": {k: v for k, v in t.params.items() if k != "family"},
                "val_loss": t.value, "validation_score": score_of.get(t.number, np.nan),
                "epochs": TrialPlan.of(t).epochs,
                "fit_time": (t.datetime_complete - t.datetime_start).total_seconds(),  # type: ignore[operator]
                "predict_time": times.get(t.number),
                "ensemble_weight": weight_of.get(t.number, 0.0),
                "mlflow_run_id": runs.get(t.number),
            })  # fmt: skip
        self.leaderboard_ = pd.DataFrame(rows)

    def _member_predictions(self, model: nnx.Module, x: np.ndarray) -> np.ndarray:
        """One network's predictions of normalized images (mean with mirrors when ``flip``)."""
        views = [x, x[:, :, ::-1]] if self.flip else [x]
        outs = [_predict(model, v)[:, :-2] for v in views]
        if self._classification:
            outs = [np.asarray(jax.nn.softmax(o, axis=-1), np.float64) for o in outs]
            return np.mean(outs, axis=0)
        return np.mean(outs, axis=0)[:, 0]

    def _assemble(self) -> ImageEnsemble:
        return ImageEnsemble(
            [m for m, _, _ in self.members_], [w for _, _, w in self.members_],
            self.channel_mean_, self.channel_std_, classification=self._classification,
            flip=bool(self.flip), target_scale=self.target_scale_,
        )  # fmt: skip

    def leaderboard(self) -> pd.DataFrame:
        """Every finished trial, best ``val_loss`` first, as a DataFrame.

        Columns: model, family, hyperparameters, ``val_loss`` (the search's objective on the
        held-out images), ``validation_score`` (the chosen metric on them; for the trials the
        ensemble chose from), epochs (the trial's Hyperband budget), fit time and predict time
        in seconds, ensemble weight and MLflow run id (None without tracking).

        Example:
            >>> clf.leaderboard()[["family", "val_loss"]]  # doctest: +SKIP
        """
        check_is_fitted(self, "leaderboard_")
        return self.leaderboard_.copy()

    def _raw(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "ensemble_")
        images = check_images(X)
        if images.shape[1:] != self.image_shape_:
            raise DataError(
                f"`X` must hold images of shape {self.image_shape_} as in fit, got "
                f"{images.shape[1:]}; resize them first"
            )
        return _predict(self.ensemble_, images)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Writes the fitted estimator to directory ``path`` (JSON and ``.npz``, no pickle).

        Example:
            >>> clf.save("image_model")  # doctest: +SKIP
        """
        check_is_fitted(self, "ensemble_")
        root = Path(path)
        if root.exists() and any(root.iterdir()) and not (root / _MANIFEST).exists():
            raise FileExistsError(f"`path` {str(root)!r} is a non-empty folder; choose a new path")
        shutil.rmtree(root, ignore_errors=True)
        (root / "members").mkdir(parents=True)
        for i, (model, _, _) in enumerate(self.members_):
            _npz.write_npz(root / "members" / f"{i}.npz", model_arrays(model))
        params = {k: v for k, v in self.get_params().items() if k not in ("tracker", "directory")}
        classes = getattr(self, "classes_", None)
        manifest = {
            "format": _FORMAT, "estimator": type(self).__name__, "params": params,
            "task": dataclasses.asdict(self._task_spec), "metric": self.metric_,
            "members": [{"params": p, "weight": w} for _, p, w in self.members_],
            "classes": None if classes is None else classes.tolist(),
            "classes_dtype": None if classes is None else classes.dtype.str,
            "mean": self.channel_mean_.tolist(), "std": self.channel_std_.tolist(),
            "target_scale": list(self.target_scale_), "validation_score": self.validation_score_,
            "leaderboard": self.leaderboard_.to_dict(orient="records"),
        }  # fmt: skip
        (root / _MANIFEST).write_text(json.dumps(manifest, indent=1, default=str))

    def export(
        self,
        path: str | os.PathLike[str],
        *,
        metadata: dict[str, Any] | None = None,
        overwrite: bool = False,
        formats: Sequence[str] = ("jax",),
    ) -> Path:
        """Export the ensemble (normalization included) as one program and MLflow model.

        ``hx.load_model(path).predict(images)`` then takes raw float32 pixels of the shape
        seen in ``fit`` (with the channel axis) and needs no Flax or pickle.

        Example:
            >>> clf.export("exported/images")  # doctest: +SKIP
        """
        from hyperflax.export import export_model

        check_is_fitted(self, "ensemble_")
        info = {"metric": self.metric_, "validation_score": self.validation_score_,
                "members": [p for _, p, _ in self.members_], **(metadata or {})}  # fmt: skip
        classes = getattr(self, "classes_", None)
        return export_model(
            self.ensemble_, path, example_input=np.zeros((1, *self.image_shape_), np.float32),
            metadata=info if classes is not None else {"task": "regression", **info},
            class_labels=None if classes is None else classes.tolist(), overwrite=overwrite,
            formats=formats,
        )  # fmt: skip


class _FirstEpochClocks(Callback):
    """Records the first epoch of each trial in the space, by program (family and width).

    A program's first trial compiles it in its first epoch; later trials overwrite that with
    their own first epoch, which does not compile.
    """

    def __init__(self, space: _BudgetedSpace) -> None:
        self.space, self._start = space, 0.0

    def on_train_begin(self, trainer: Trainer) -> None:
        """Starts the clock."""
        self._start = time.monotonic()

    def on_epoch_end(self, epoch: int, logs: dict[str, float], trainer: Trainer) -> None:
        """After a trial's first epoch: what a first epoch of its program costs."""
        if self._start:
            net = trainer.model.net  # type: ignore[attr-defined]
            key = (_family_of(net), int(net.stem.kernel[...].shape[-1]))
            seconds = time.monotonic() - self._start
            self.space.first_epoch[key] = seconds
            self.space.compiling = max(self.space.compiling or 0.0, seconds)
            self._start = 0.0


def _forget_compilation_cache() -> None:
    """Turn off the persistent compilation cache a search turned on in a scratch folder."""
    from jax.experimental.compilation_cache import compilation_cache

    jax.config.update("jax_compilation_cache_dir", None)
    compilation_cache.reset_cache()


def _family_of(net: Any) -> str:
    return next(family for family, block in FAMILIES.items() if block == net.block)


def load_images(root: Path, manifest: dict[str, Any]) -> Any:
    """An image estimator written by ``save`` (see ``hx.automl.load``)."""
    cls = {"ImageClassifier": ImageClassifier, "ImageRegressor": ImageRegressor}
    est = cls[manifest["estimator"]](**manifest["params"])
    spec = dict(manifest["task"])
    spec["shape"], spec["widths"] = tuple(spec["shape"]), tuple(spec["widths"])
    est._task_spec = ImageTask(**spec)
    space = ImageSpace(est._task_spec)
    seed = int(manifest["params"]["seed"])
    members = []
    for i, member in enumerate(manifest["members"]):
        model = space.build(HyperParameters(member["params"]), nnx.Rngs(seed))
        assign_model_arrays(model, _npz.read_npz(root / "members" / f"{i}.npz"))
        model.eval()
        members.append((model, member["params"], member["weight"]))
    est.members_ = members
    if manifest["classes"] is not None:
        est.classes_ = np.asarray(manifest["classes"], dtype=manifest["classes_dtype"])
        est.task_ = Task("binary" if len(est.classes_) == 2 else "multiclass", len(est.classes_))
    else:
        est.task_ = Task("regression")
    est.channel_mean_ = np.asarray(manifest["mean"], np.float32)
    est.channel_std_ = np.asarray(manifest["std"], np.float32)
    est.target_scale_ = tuple(manifest["target_scale"])
    est.image_shape_ = est._task_spec.shape
    est.n_features_in_ = int(np.prod(est.image_shape_))
    est.metric_ = manifest["metric"]
    est.validation_score_ = manifest["validation_score"]
    est.leaderboard_ = pd.DataFrame(manifest["leaderboard"])
    est.ensemble_ = est._assemble()
    return est


_PARAMS_DOC = """
    Args:
        time_limit: Seconds the whole ``fit`` may take (a promise: the search, the first
            epoch of every new network, and the ensemble included).
        presets: ``"fast"`` (Hyperband up to 9 epochs, first-stage width 16), ``"medium"``
            (27 epochs, widths 16 and 32) or ``"best"`` (81 epochs, widths 16, 32 and 64).
            Without ``max_trials``, a time limit with room for more trains longer (up to
            243 epochs): the first warm-start network's first epoch is timed (less its
            compilation), and the longest training is the largest whose warm-start bracket
            fills the search's time.
        metric: What the ensemble optimizes on the held-out images; ``None`` for the default.
        max_trials: At most this many trials (Hyperband's promotions count as trials).
        seed: Seeds the split, the sampler and every network.
        flip: Images may be mirrored left-right (photos, not digits or text): train with
            random flips and average each prediction with its mirror's.
        directory: Parent folder of the project; ``None`` keeps a private temporary project.
            With a directory, rerunning a killed ``fit`` continues its study.
        project_name: The project's folder and study name inside ``directory``.
        tracker: ``None``, ``"mlflow"`` (each trial a nested MLflow run) or a
            ``hx.tracking.Tracker``.
        verbose: Print one line per trial when > 0.
        population_size: Trials of one architecture train this many at a time in one
            ``vmap``-ed program (each still its own trial); ``"auto"`` picks from the device.

    The search is Hyperband (factor 3) over a conditional space of three families, each a
    :class:`~hyperflax.models.ConvNet`: a small CNN (``"cnn"``), a pre-activation ResNet
    (``"resnet"``) and a ConvNeXt-style net (``"convnext"``), with tuned width, depth (data:
    one program per family and width), dropout, random shifts, AdamW's learning rate and
    weight decay under one warmup + cosine schedule, and for classification label smoothing
    and mixup or cutmix, all applied on the device inside the compiled epoch. A promoted trial
    continues its parent's training state. Four configurations run first (a warm start). Every
    trial trains data parallel on all local devices, in bfloat16 on an accelerator. 20% of the
    images (stratified) are held out: Hyperband ranks trials by their loss there, and greedy
    ensemble selection (Caruana et al.) chooses weights for the 10 best by ``metric``.
"""


class ImageClassifier(ClassifierMixin, _Images):
    (
        """AutoML for images: Hyperband over CNN, ResNet and ConvNeXt-style nets, then an ensemble.
    """
        + _PARAMS_DOC
        + """
    Metrics: ``"log_loss"`` (default), ``"accuracy"``, ``"balanced_accuracy"``, ``"roc_auc"``,
    ``"f1"``.

    Example:
        >>> from sklearn.datasets import load_digits
        >>> import hyperflax as hx
        >>> digits = load_digits()
        >>> clf = hx.automl.ImageClassifier(time_limit=30, presets="fast", max_trials=1)
        >>> clf.fit(digits.images, digits.target).score(digits.images, digits.target) > 0.5
        True
    """
    )

    def _encode_target(self, y: np.ndarray) -> tuple[np.ndarray, Task]:
        encoder = LabelEncoder().fit(y)
        self.classes_ = encoder.classes_
        n = len(self.classes_)
        return encoder.transform(y), Task("binary" if n == 2 else "multiclass", n)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities of each image, columns in the order of ``classes_``."""
        proba = np.exp(self._raw(X))
        return proba / proba.sum(axis=1, keepdims=True)

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each image."""
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


class ImageRegressor(RegressorMixin, _Images):
    (
        """AutoML regression on images: Hyperband over image networks, then an ensemble.
    """
        + _PARAMS_DOC
        + """
    Mixup, cutmix and label smoothing are not searched for regression. Metrics: ``"rmse"``
    (default), ``"mae"``, ``"r2"``.

    Example:
        >>> import numpy as np, hyperflax as hx
        >>> X = np.random.default_rng(0).random((200, 8, 8)).astype("float32")
        >>> reg = hx.automl.ImageRegressor(time_limit=30, presets="fast", max_trials=1)
        >>> reg.fit(X, X.mean(axis=(1, 2))).predict(X).shape
        (200,)
    """
    )

    _classification = False

    def predict(self, X: Any) -> np.ndarray:
        """The predicted value of each image."""
        return self._raw(X)[:, 0]
