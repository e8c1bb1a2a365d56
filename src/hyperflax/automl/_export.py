"""A fitted tabular estimator as one JAX program: preprocessing, every member, the ensemble.

The program takes the float32 codes of :mod:`hyperflax.export._table` (numbers as they are,
categories as positions in a JSON vocabulary) and returns class probabilities or values, as
``predict_proba``/``predict`` do. Everything fitted becomes arrays passed to the program:

- scikit-learn preprocessing: median imputation (and missing indicators), robust or quantile
  scaling, as their fitted statistics; every categorical encoding (ordinal codes, one-hot,
  target encoding and its scaling) as a lookup table per column, computed by the fitted
  encoder itself on every category of the vocabulary, a missing value and an unseen one;
- HistGradientBoosting as arrays of nodes evaluated by :mod:`hyperflax.export._trees`;
  linear models as coefficients; nearest neighbours as their training rows;
- networks as their Flax state (:func:`hyperflax.export._program.split_module`);
- bagged fold models averaged, the ensemble's weights, a stack layer, seeds averaged.

Nothing in the artifact needs scikit-learn, Flax or pickle to predict.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from scipy import stats
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    OneHotEncoder,
    OrdinalEncoder,
    QuantileTransformer,
    RobustScaler,
    TargetEncoder,
)

from hyperflax.automl import _stack
from hyperflax.automl._members import Bagged, Candidate
from hyperflax.automl._metrics import with_temperature
from hyperflax.automl._space import NETWORKS
from hyperflax.automl._tables import Columns
from hyperflax.automl._task import Task
from hyperflax.export._export import export_table_program
from hyperflax.export._program import lower, split_module
from hyperflax.export._trees import float32_toward, tree_arrays, tree_predict

#: Stands for "a category never seen in fit" when the encoders are probed.
_UNSEEN = "\x00hyperflax:unseen"
#: scikit-learn's QuantileTransformer: inputs this close to the ends map to them, and normal
#: outputs stay within the quantiles _BOUND and 1 - _BOUND.
_THRESHOLD = 1e-7
_BOUND = _THRESHOLD - np.spacing(1)

Fn = Callable[[Sequence[jax.Array], jax.Array], jax.Array]


class _Weights:
    """The program's arguments, collected while its functions are built."""

    def __init__(self) -> None:
        self.arrays: list[np.ndarray] = []
        self.names: list[str] = []

    def add(self, name: str, array: Any) -> int:
        """Stores ``array`` in JAX's dtype (float64 as float32, int64 as int32); its position."""
        array = np.asarray(array)
        array = array.astype(jax.dtypes.canonicalize_dtype(array.dtype))
        self.arrays.append(array)
        self.names.append(name)
        return len(self.arrays) - 1

    def add_all(self, prefix: str, arrays: dict[str, Any]) -> dict[str, int]:
        """Stores every array of ``arrays``; returns their positions by name."""
        return {k: self.add(f"{prefix}/{k}", v) for k, v in arrays.items()}


def _pick(w: Sequence[jax.Array], index: dict[str, int]) -> dict[str, jax.Array]:
    return {k: w[i] for k, i in index.items()}


# ------------------------------------------------------------------ preprocessing


def vocabularies(preprocessors: list[Any], columns: Columns) -> dict[str, list[str]]:
    """Every category of each categorical column known to any fitted encoder, sorted.

    Example:
        >>> from sklearn.compose import ColumnTransformer
        >>> from sklearn.preprocessing import OrdinalEncoder
        >>> ct = ColumnTransformer([("cat", OrdinalEncoder(), ["c"])]).fit(
        ...     pd.DataFrame({"c": ["b", "a"]}))
        >>> vocabularies([ct], Columns(("c",), (), ("c",)))
        {'c': ['a', 'b']}
    """
    found: dict[str, set[str]] = {c: set() for c in columns.categorical}
    for ct in preprocessors:
        for _, transformer, cols in ct.transformers_:
            encoder = transformer.steps[0][1] if isinstance(transformer, Pipeline) else transformer
            if isinstance(encoder, OrdinalEncoder | OneHotEncoder | TargetEncoder):
                for col, categories in zip(cols, encoder.categories_, strict=True):
                    found[col] |= {c for c in categories if isinstance(c, str)}
    return {c: sorted(v) for c, v in found.items()}


def _widths(transformer: Any, n_columns: int) -> list[int]:
    """How many output columns each input column of a categorical encoder makes."""
    encoder = transformer.steps[0][1] if isinstance(transformer, Pipeline) else transformer
    if isinstance(encoder, OneHotEncoder):
        return [len(c) for c in encoder.categories_]
    if isinstance(encoder, TargetEncoder) and encoder.target_type_ == "multiclass":
        return [len(encoder.classes_)] * n_columns
    if isinstance(encoder, OrdinalEncoder | TargetEncoder):
        return [1] * n_columns
    raise TypeError(f"cannot export the categorical encoder {type(encoder).__name__}")


def lookup_tables(
    transformer: Any, cols: list[str], vocabulary: dict[str, list[str]]
) -> list[np.ndarray]:
    """Per column, the encoder's output for each code: ``(V + 2, width)`` (vocab, missing, new).

    The fitted encoder computes every entry itself, on a probe table of the vocabulary.

    Example:
        >>> enc = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
        >>> enc = enc.fit(pd.DataFrame({"c": ["a", "b"]}))
        >>> lookup_tables(enc, ["c"], {"c": ["a", "b"]})[0].tolist()
        [[1.0, 0.0], [0.0, 1.0], [0.0, 0.0], [0.0, 0.0]]
    """
    rows = max(len(vocabulary[c]) for c in cols) + 2
    probe = {}
    for c in cols:
        values = [*vocabulary[c], np.nan, _UNSEEN]
        probe[c] = np.array(values + [np.nan] * (rows - len(values)), dtype=object)
    out = np.asarray(transformer.transform(pd.DataFrame(probe)), np.float64)
    widths = _widths(transformer, len(cols))
    if sum(widths) != out.shape[1]:
        raise TypeError(f"{type(transformer).__name__} made {out.shape[1]} columns, not {widths}")
    starts = np.cumsum([0, *widths])
    return [out[: len(vocabulary[c]) + 2, starts[j] : starts[j + 1]] for j, c in enumerate(cols)]


def _categorical_block(
    transformer: Any,
    idx: list[int],
    cols: list[str],
    vocab: dict[str, list[str]],
    w: _Weights,
    prefix: str,
) -> Fn:
    found = lookup_tables(transformer, cols, vocab)
    tables = [w.add(f"{prefix}/{c}", t) for c, t in zip(cols, found, strict=True)]
    missing = [len(vocab[c]) for c in cols]

    def block(args: Sequence[jax.Array], x: jax.Array) -> jax.Array:
        parts = []
        for j, table, v in zip(idx, tables, missing, strict=True):
            code = jnp.where(jnp.isnan(x[:, j]), v, x[:, j])  # NaN given for a code: missing
            parts.append(args[table][jnp.clip(code.astype(jnp.int32), 0, v + 1)])
        return jnp.concatenate(parts, axis=1)

    return block


def split_float(values: Any) -> tuple[np.ndarray, np.ndarray]:
    """Float64 values as two float32 parts ``hi + lo``, to subtract them in float32 exactly.

    Example:
        >>> hi, lo = split_float(np.array([37.0000001]))
        >>> float(hi[0]), abs(float(hi[0]) + float(lo[0]) - 37.0000001) < 1e-12
        (37.0, True)
    """
    values = np.asarray(values, np.float64)
    hi = values.astype(np.float32)
    return hi, (values - hi.astype(np.float64)).astype(np.float32)


def interp_columns(
    x: jax.Array, find: jax.Array, hi: jax.Array, lo: jax.Array, fps: Sequence[jax.Array]
) -> list[jax.Array]:
    """``np.interp`` of each column ``x[:, j]`` on its own points, for each of ``fps``.

    ``find`` locates each value's interval (points rounded to float32 so that the search
    agrees with float64); the interpolation uses the points as float32 pairs ``hi + lo``, so
    points close to each other or far from 0 lose no precision. Comparisons and gathers only
    (no ``vmap`` of ``jnp.interp``), so it lowers to ONNX.

    Example:
        >>> x = jnp.array([[0.5, 3.0]])
        >>> xp = jnp.array([[0.0, 2.0], [1.0, 4.0]])
        >>> interp_columns(x, xp, xp, jnp.zeros_like(xp), [jnp.array([0.0, 1.0])])[0].tolist()
        [[0.5, 0.5]]
    """
    n_points = find.shape[0]
    above = jnp.sum(x[:, :, None] >= find.T[None, :, :], axis=-1)  # points <= x (side right)
    j = jnp.clip(above - 1, 0, n_points - 2)

    def at(points: jax.Array, k: jax.Array) -> jax.Array:
        return jnp.take_along_axis(points.T[None], k[..., None], axis=-1)[..., 0]

    x0_hi, x0_lo, x1_hi, x1_lo = at(hi, j), at(lo, j), at(hi, j + 1), at(lo, j + 1)
    gap = (x1_hi - x0_hi) + (x1_lo - x0_lo)
    t = ((x - x0_hi) - x0_lo) / jnp.where(gap > 0, gap, 1.0)
    return [
        jnp.where(
            above == 0, fp[0], jnp.where(above == n_points, fp[-1], fp[j] + t * (fp[j + 1] - fp[j]))
        )
        for fp in fps
    ]


def _quantile_normal(x: jax.Array, args: Sequence[jax.Array], index: dict[str, int]) -> Any:
    """QuantileTransformer's normal output of float32 ``x`` as scikit-learn computes it in float64.

    scikit-learn averages an interpolation over increasing quantiles with one over decreasing
    quantiles. Quantiles rounded up (down) to float32 find, for every float32 ``x``, the same
    interval as the float64 quantiles do in the increasing (decreasing) search, so repeated and
    nearly equal quantiles behave as in float64. ``1 - p`` is interpolated too, so the upper
    tail keeps float32's precision near 0.
    """
    a = _pick(args, index)
    refs, tails = a["references"], a["tails"]
    forward = interp_columns(x, a["up"], a["hi"], a["lo"], [refs, tails])
    backward = interp_columns(
        -x, -a["down"][::-1], -a["hi"][::-1], -a["lo"][::-1], [-refs[::-1], -tails[::-1]]
    )
    p, q = (0.5 * (f - b) for f, b in zip(forward, backward, strict=True))  # q = 1 - p
    low, high = x < a["low"], x > a["high"]  # within 1e-7 of the first or last quantile
    p = jnp.where(low, 0.0, jnp.where(high, 1.0, p))
    q = jnp.where(low, 1.0, jnp.where(high, 0.0, q))
    z = jnp.where(p < 0.5, jax.scipy.special.ndtri(p), -jax.scipy.special.ndtri(q))
    bound = float(stats.norm.ppf(1 - _BOUND))
    return jnp.clip(z, jnp.float32(-bound), jnp.float32(bound))


def _quantile_arrays(scaler: QuantileTransformer) -> dict[str, np.ndarray]:
    q = scaler.quantiles_
    hi, lo = split_float(q)
    return {
        "up": float32_toward(q, np.inf),
        "down": float32_toward(q, -np.inf),
        "hi": hi,
        "lo": lo,
        "references": scaler.references_,
        "tails": 1.0 - scaler.references_,
        "low": float32_toward(q[0] + _THRESHOLD, np.inf),  # x - 1e-7 < q[0]
        "high": float32_toward(q[-1] - _THRESHOLD, -np.inf),  # x + 1e-7 > q[-1]
    }


def _numeric_block(pipeline: Any, idx: list[int], w: _Weights, prefix: str) -> Fn:
    """Imputation (with missing indicators) and scaling of the numeric columns ``idx``.

    A missing value's output is computed by the fitted pipeline itself (a constant per
    column), so the float64 median is never rounded into the scaling.
    """
    imputer, scaler = (step for _, step in pipeline.steps)
    if not isinstance(imputer, SimpleImputer):
        raise TypeError(f"cannot export the numeric step {type(imputer).__name__}")
    d = len(idx)
    gap_row = pd.DataFrame(np.full((1, d), np.nan), columns=list(pipeline.feature_names_in_))
    missing = pipeline.transform(gap_row)[0, :d]
    imputed = w.add(f"{prefix}/imputed", missing)
    flags = list(imputer.indicator_.features_) if imputer.add_indicator else []
    if isinstance(scaler, RobustScaler):
        n = d + len(flags)
        hi, lo = split_float(np.zeros(n) if scaler.center_ is None else scaler.center_)
        center = w.add_all(f"{prefix}/center", {"hi": hi, "lo": lo})
        scale = w.add(f"{prefix}/scale", np.ones(n) if scaler.scale_ is None else scaler.scale_)
    elif isinstance(scaler, QuantileTransformer) and scaler.output_distribution == "normal":
        quantiles = w.add_all(f"{prefix}/quantile", _quantile_arrays(scaler))
    else:
        raise TypeError(f"cannot export the numeric step {type(scaler).__name__}")

    def block(args: Sequence[jax.Array], x: jax.Array) -> jax.Array:
        raw = x[:, jnp.asarray(idx)]
        gaps = jnp.isnan(raw)
        z = jnp.where(gaps, 0.0, raw)
        if flags:
            z = jnp.concatenate([z, gaps[:, jnp.asarray(flags)].astype(z.dtype)], 1)
        if isinstance(scaler, RobustScaler):
            c = _pick(args, center)
            out = ((z - c["hi"]) - c["lo"]) / args[scale]
        else:
            out = _quantile_normal(z, args, quantiles)
        return out.at[:, :d].set(jnp.where(gaps, args[imputed], out[:, :d]))

    return block


def _filled(imputer: SimpleImputer, idx: list[int], w: _Weights, prefix: str) -> Fn:
    """A constant imputer: missing values of the columns ``idx`` become its statistics."""
    fill = w.add(f"{prefix}/fill", np.asarray(imputer.statistics_, np.float64))

    def block(args: Sequence[jax.Array], x: jax.Array) -> jax.Array:
        raw = x[:, jnp.asarray(idx)]
        return jnp.where(jnp.isnan(raw), args[fill], raw)

    return block


def _columns(idx: list[int]) -> Fn:
    return lambda args, x: x[:, jnp.asarray(idx)]


def preprocessor_fn(
    ct: Any, columns: Columns, vocab: dict[str, list[str]], w: _Weights, prefix: str
) -> Fn:
    """The fitted ColumnTransformer of ``_preprocessing.make_preprocessor`` as a function.

    Args:
        ct: The fitted ColumnTransformer.
        columns: The table's columns, in the program input's order.
        vocab: Each categorical column's vocabulary.
        w: Where the arrays go.
        prefix: Names the arrays.

    Returns:
        ``fn(args, codes)`` giving what ``ct.transform`` gives (float32).
    """
    position = {name: i for i, name in enumerate(columns.names)}
    blocks: list[Fn] = []
    for name, transformer, cols in ct.transformers_:
        if (isinstance(transformer, str) and transformer == "drop") or not len(cols):
            continue
        idx = [position[c] for c in cols]
        if transformer == "passthrough" or (  # fitted, "passthrough" is an identity function
            isinstance(transformer, FunctionTransformer) and transformer.func is None
        ):
            blocks.append(_columns(idx))
        elif isinstance(transformer, SimpleImputer):  # columns missing in every training row
            blocks.append(_filled(transformer, idx, w, f"{prefix}/{name}"))
        elif isinstance(transformer, Pipeline) and isinstance(transformer[0], SimpleImputer):
            blocks.append(_numeric_block(transformer, idx, w, f"{prefix}/{name}"))
        else:
            blocks.append(
                _categorical_block(transformer, idx, list(cols), vocab, w, f"{prefix}/{name}")
            )
    return lambda args, x: jnp.concatenate([b(args, x) for b in blocks], axis=1)


# ------------------------------------------------------------------ models


def _two_columns(p: jax.Array) -> jax.Array:
    return jnp.stack([1.0 - p, p], axis=1)


def _knn_fn(model: Any, w: _Weights, task: Task, prefix: str) -> Fn:
    """Brute-force nearest neighbours over the training rows.

    Where neighbours tie at the k-th distance, the lowest row wins here, while scikit-learn's
    float64 distances break exact ties by rounding noise: predictions can differ there.
    """
    train = w.add(f"{prefix}/x", model._fit_X)
    y = w.add(f"{prefix}/y", model._y if task.classification else model._y.astype(np.float64))
    k, by_distance = int(model.n_neighbors), model.weights == "distance"
    n_out = len(model.classes_) if task.classification else 1

    def fn(args: Sequence[jax.Array], x: jax.Array) -> jax.Array:
        d2 = jnp.sum(jnp.square(x[:, None, :] - args[train][None]), axis=-1)
        neg, nearest = jax.lax.top_k(-d2, k)
        if by_distance:  # scikit-learn: rows with an exact match weigh only the matches
            dist = jnp.sqrt(jnp.maximum(-neg, 0.0))
            exact = dist == 0.0
            weights = jnp.where(exact.any(1, keepdims=True), exact, 1.0 / jnp.where(exact, 1, dist))
        else:
            weights = jnp.ones(nearest.shape, x.dtype)
        labels = args[y][nearest]
        if task.classification:
            votes = (jax.nn.one_hot(labels, n_out) * weights[..., None]).sum(1)
            return votes / votes.sum(1, keepdims=True)
        return (labels * weights).sum(1) / weights.sum(1)

    return fn


def _linear_fn(coef: np.ndarray, intercept: np.ndarray, w: _Weights, task: Task, prefix: str) -> Fn:
    """``x @ coef + intercept``: values, or probabilities (sigmoid of one column, or softmax)."""
    weights = w.add(f"{prefix}/coef", coef)
    bias = w.add(f"{prefix}/intercept", intercept)

    def linear(args: Sequence[jax.Array], x: jax.Array) -> jax.Array:
        z = x @ args[weights] + args[bias]
        if not task.classification:
            return z[:, 0]
        return _two_columns(jax.nn.sigmoid(z[:, 0])) if z.shape[1] == 1 else jax.nn.softmax(z)

    return linear


def _kernel_fn(model: Pipeline, w: _Weights, task: Task, prefix: str) -> Fn:
    """The kernel family: min-max scaling (clipped), RBF kernel to the landmarks, a linear head.

    Nystroem's normalization is folded into the head's weights in float64: on its own it can
    hold entries of 1e5 (nearly coincident landmarks), which float32 features would amplify.
    """
    scaler, kernel, head = (model.named_steps[k] for k in ("scale", "kernel", "linear"))
    scale = w.add(f"{prefix}/scale", scaler.scale_)
    shift = w.add(f"{prefix}/min", scaler.min_)
    landmarks = w.add(f"{prefix}/components", kernel.components_)
    coef = kernel.normalization_.T @ np.atleast_2d(head.coef_).T
    linear = _linear_fn(coef, np.atleast_1d(head.intercept_), w, task, f"{prefix}/linear")
    gamma = float(kernel.gamma)

    def fn(args: Sequence[jax.Array], x: jax.Array) -> jax.Array:
        scaled = jnp.clip(x * args[scale] + args[shift], 0.0, 1.0)
        c = args[landmarks]
        d2 = (scaled * scaled).sum(1)[:, None] - 2.0 * scaled @ c.T + (c * c).sum(1)[None]
        return linear(args, jnp.exp(-gamma * jnp.maximum(d2, 0.0)))

    return fn


def _sklearn_fn(model: Any, w: _Weights, task: Task, prefix: str) -> Fn:
    """A fitted scikit-learn member: probabilities over ``model.classes_`` or values."""
    if isinstance(model, Pipeline):
        return _kernel_fn(model, w, task, prefix)
    if isinstance(model, HistGradientBoostingClassifier | HistGradientBoostingRegressor):
        arrays, spec = tree_arrays(model)
        index = w.add_all(f"{prefix}/trees", arrays)
        return lambda args, x: tree_predict(spec, _pick(args, index), x)
    if isinstance(model, DummyClassifier):
        prior = w.add(f"{prefix}/prior", model.class_prior_)
        return lambda args, x: jnp.broadcast_to(args[prior], (x.shape[0], args[prior].shape[0]))
    if isinstance(model, LogisticRegression | Ridge):
        coef, intercept = np.atleast_2d(model.coef_).T, np.atleast_1d(model.intercept_)
        return _linear_fn(coef, intercept, w, task, prefix)
    if isinstance(model, KNeighborsClassifier | KNeighborsRegressor):
        return _knn_fn(model, w, task, prefix)
    raise TypeError(f"cannot export a member of type {type(model).__name__}")


def _network_fn(state: dict[str, Any], w: _Weights, task: Task, prefix: str) -> Fn:
    from hyperflax.automl import _networks

    weights, names, apply = split_module(_networks.load_network(state))
    index = [w.add(f"{prefix}/{name}", a) for name, a in zip(names, weights, strict=True)]
    spec = state["spec"]

    def fn(args: Sequence[jax.Array], x: jax.Array) -> jax.Array:
        out = apply([args[i] for i in index], x)
        if task.classification:
            proba = jax.nn.softmax(out, axis=-1)
            return proba.mean(axis=1) if proba.ndim == 3 else proba
        values = out.reshape(out.shape[0], -1).mean(axis=1)
        return values * spec["y_std"] + spec["y_mean"]

    return fn


def member_fn(member: Candidate, w: _Weights, task: Task, prefix: str) -> Fn:
    """One candidate (a fold model, or the mean of its fold models) on its preprocessed rows."""
    if isinstance(member, Bagged):
        folds = [member_fn(m, w, task, f"{prefix}/fold_{i}") for i, m in enumerate(member.folds)]
        return lambda args, x: jnp.mean(jnp.stack([f(args, x) for f in folds]), axis=0)
    if member.family in NETWORKS:
        return _network_fn(member.model, w, task, prefix)
    fn = _sklearn_fn(member.model, w, task, prefix)
    if not task.classification:
        return fn
    seen = jnp.asarray(np.asarray(member.model.classes_, dtype=np.int32))
    n_classes = task.n_classes
    return lambda args, x: (  # full_proba: the classes the model saw, zeros elsewhere
        jnp.zeros((x.shape[0], n_classes), jnp.float32).at[:, seen].set(fn(args, x))
    )


def run_fn(est: Any, vocab: dict[str, list[str]], w: _Weights, prefix: str) -> Fn:
    """One fit (one seed) of an estimator: its preprocessors, members and ensemble or stack."""
    task: Task = est.task_
    stack: _stack.Stack | None = getattr(est, "stack_", None)
    members = [(m, 1.0) for m in stack.inputs] if stack is not None else list(est.members_)
    kinds = {m.preprocessor for m, _ in members} | ({"tree"} if stack is not None else set())
    pre = {
        k: preprocessor_fn(est.preprocessors_[k], est.columns_, vocab, w, f"{prefix}/{k}")
        for k in kinds
    }
    fns = [
        (member_fn(m, w, task, f"{prefix}/{m.family}_{m.trial}"), m.preprocessor, weight)
        for m, weight in members
    ]
    top = None if stack is None else member_fn(stack.model, w, task, f"{prefix}/{_stack.NAME}")

    def fn(args: Sequence[jax.Array], x: jax.Array) -> jax.Array:
        features = {k: f(args, x) for k, f in pre.items()}
        outputs = [f(args, features[kind]) for f, kind, _ in fns]
        if top is not None:
            return top(args, _stack.design(features["tree"], outputs, task, xp=jnp))
        weighted = [weight * out for out, (_, _, weight) in zip(outputs, fns, strict=True)]
        return jnp.sum(jnp.stack(weighted), axis=0)

    return fn


def _example_rows(columns: Columns, vocab: dict[str, list[str]]) -> pd.DataFrame:
    """A few rows for MLflow's input example and the ONNX check: numbers, categories, gaps.

    Example:
        >>> rows = _example_rows(Columns(("x", "c"), ("x",), ("c",)), {"c": ["a"]})
        >>> rows["c"].isna().tolist()
        [False, False, True, False, False, True, False, False]
    """
    n = 8
    numbers = np.linspace(-2.0, 2.0, n)
    rows: dict[str, list[Any]] = {}
    for j, c in enumerate(columns.names):
        if c in columns.numeric:
            rows[c] = [None if (i + j) % 5 == 4 else float(numbers[(i + j) % n]) for i in range(n)]
        else:
            known: list[Any] = vocab[c] or [None]
            rows[c] = [None if i % 3 == 2 else known[(i + j) % len(known)] for i in range(n)]
    return pd.DataFrame(rows, columns=list(columns.names))


def export_estimator(
    est: Any,
    path: str | os.PathLike[str],
    *,
    metadata: dict[str, Any] | None,
    overwrite: bool,
    formats: Sequence[str],
) -> Path:
    """Write a fitted TabularClassifier/TabularRegressor as one program (see the module doc)."""
    runs = getattr(est, "seeds_", [est])
    columns: Columns = est.columns_
    vocab = vocabularies([ct for run in runs for ct in run.preprocessors_.values()], columns)
    table = [
        {"name": c, "kind": "numeric"}
        if c in columns.numeric
        else {"name": c, "kind": "categorical", "vocabulary": vocab[c]}
        for c in columns.names
    ]
    w = _Weights()
    fns = [run_fn(run, vocab, w, f"seed_{i}") for i, run in enumerate(runs)]
    classification = bool(est.task_.classification)

    temperature = getattr(est, "temperature_", 1.0)

    def forward(args: Sequence[jax.Array], x: jax.Array) -> jax.Array:
        out = jnp.mean(jnp.stack([f(args, x) for f in fns]), axis=0)
        if not classification:
            return out
        out = out / out.sum(axis=1, keepdims=True)
        if temperature != 1.0:  # as TabularClassifier.predict_proba
            out = with_temperature(out, temperature, xp=jnp)
        return out

    example = np.zeros((2, len(columns.names)), np.float32)
    with jax.default_matmul_precision("highest"):  # no TF32 on GPUs: match the estimator
        program = lower(forward, w.arrays, w.names, example)
    binary = classification and len(est.classes_) == 2
    threshold = getattr(est, "decision_threshold_", None) if binary else None
    info = {
        "estimator": type(est).__name__,
        "metric": est.metric_,
        "validation_score": float(est.validation_score_),
        "members": [
            {"model": f"trial_{m.trial}_{m.family}", "weight": float(weight)}
            for m, weight in est.members_
        ],
        "stack": getattr(est, "stack_", None) is not None,
        "n_seeds": len(runs),
    }
    return export_table_program(
        program, path, columns=table,
        class_labels=list(est.classes_) if classification else None,
        decision_threshold=None if threshold is None else float(threshold),
        metadata={**info, **(metadata or {})}, example_rows=_example_rows(columns, vocab),
        overwrite=overwrite, formats=formats,
        function=lambda x: forward([jnp.asarray(a) for a in w.arrays], x),
    )  # fmt: skip
