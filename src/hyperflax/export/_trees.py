"""Fitted scikit-learn ``HistGradientBoosting`` models as plain arrays, evaluated in pure JAX.

:func:`tree_arrays` turns a fitted ``HistGradientBoostingClassifier`` or
``HistGradientBoostingRegressor`` into a dict of numeric NumPy arrays and a static
:class:`TreesSpec`; :func:`tree_raw` and :func:`tree_predict` evaluate them with JAX only (no
scikit-learn, no pickle), jit-able and exportable with ``jax.export`` for a symbolic batch.

Semantics are those of scikit-learn's ``_raw_predict`` (``gradient_boosting.py``) and of
``_predict_one_from_raw_data`` (``_predictor.pyx``):

* Categorical features first pass through the model's fitted ``OrdinalEncoder``: each raw value
  becomes the index of its category; values never seen in training, negative or non-integer
  codes alike, become NaN (missing). The encoder's output puts the categorical columns first; the
  node arrays here use the original column order instead.
* At a split, NaN goes to the child chosen in training (``missing_go_to_left``). A categorical
  split sends a code to the left if it is in the split's left bitset, to the right if it is a
  known category of the feature, and the way of missing values otherwise; that rule is folded
  here into one bitset per split (the left bitset, plus every unknown code when missing values go
  left). A numeric split sends ``x <= threshold`` to the left.
* The raw prediction is the baseline plus the sum of the leaf values of the trees of each output
  column (one tree per iteration and output); ``tree_predict`` applies the loss's inverse link.

Float32: the program takes float32 rows while scikit-learn compares float64 values to float64
thresholds. Each threshold is stored as the largest float32 not above it, so that for every
float32 ``x``, ``x <= threshold32`` exactly when ``x <= threshold64``: the same leaf is reached as
scikit-learn reaches for ``x.astype(np.float64)``. Categories not representable in float32 are
never matched, as no float32 row equals them either. Leaf values and the baseline are rounded to
float32 and summed in float32, so raw predictions agree to float32 rounding (about ``1e-7``
relative per tree), not bit for bit.
"""

import dataclasses
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

_NODE_FIELDS = ("feature", "threshold", "missing_left", "categorical", "bitset", "value")

_LINKS = {
    "IdentityLink": "identity",
    "LogLink": "exp",
    "LogitLink": "sigmoid",
    "MultinomialLogit": "softmax",
}


@dataclasses.dataclass(frozen=True)
class TreesSpec:
    """What the evaluation of :func:`tree_arrays`'s arrays needs to know statically.

    Attributes:
        depth: The number of traversal steps: the maximum depth of any tree.
        n_outputs: Trees per iteration: 1 (binary, regression) or the number of classes.
        link: The inverse link ``tree_predict`` applies to raw predictions: ``"identity"``
            (regression), ``"exp"`` (Poisson and gamma regression), ``"sigmoid"`` (binary) or
            ``"softmax"`` (multiclass).

    Example:
        >>> TreesSpec(depth=3, n_outputs=1, link="identity")
        TreesSpec(depth=3, n_outputs=1, link='identity')
    """

    depth: int
    n_outputs: int
    link: str


def float32_toward(values: np.ndarray, toward: float) -> np.ndarray:
    """Each float64 value as float32, rounded toward ``toward`` (``-inf``: down, ``inf``: up).

    Rounded down, ``x <= result`` exactly when ``x <= value`` for every float32 ``x``; rounded
    up, ``x >= result`` exactly when ``x >= value``. Infinities and NaN are kept.

    Example:
        >>> tenth = np.array([0.1])
        >>> down, up = float32_toward(tenth, -np.inf), float32_toward(tenth, np.inf)
        >>> bool(float(down[0]) < 0.1 < float(up[0]))
        True
    """
    values = np.asarray(values, np.float64)
    with np.errstate(over="ignore"):
        rounded = values.astype(np.float32)
    back = rounded.astype(np.float64)
    wrong = back > values if toward < 0 else back < values
    return np.where(wrong, np.nextafter(rounded, np.float32(toward)), rounded)


def _link(model: Any) -> str:
    """The name of the inverse link of ``model``'s loss, as :class:`TreesSpec` spells it."""
    name = type(model._loss.link).__name__
    if name not in _LINKS:
        raise ValueError(f"unsupported link {name} of loss {type(model._loss).__name__}")
    return _LINKS[name]


def _category_tables(model: Any) -> dict[str, np.ndarray]:
    """The fitted ``OrdinalEncoder`` as sorted lookup tables, one row per categorical column.

    ``cat_values[i]`` holds the float32-representable categories of input column
    ``cat_columns[i]`` in increasing order, padded with ``inf``; ``cat_codes[i]`` their codes (the
    index in the encoder's categories, the value the trees see), padded with ``-1``.
    """
    if model._preprocessor is None:
        columns, categories = np.zeros(0, np.int32), []
    else:
        columns = np.flatnonzero(model.is_categorical_).astype(np.int32)
        categories = model._preprocessor.named_transformers_["encoder"].categories_
    width = max([1, *map(len, categories)])
    values = np.full((len(columns), width), np.inf, np.float32)
    codes = np.full((len(columns), width), -1, np.int32)
    for row, known in enumerate(categories):
        if known.dtype.kind not in "fiu":
            raise ValueError(
                f"categorical column {columns[row]} has {known.dtype} categories; only numeric "
                "categories can be passed as float32"
            )
        known = known.astype(np.float64)
        with np.errstate(over="ignore"):
            rounded = known.astype(np.float32)
        exact = np.flatnonzero(rounded.astype(np.float64) == known)  # drops NaN too
        values[row, : len(exact)] = rounded[exact]
        codes[row, : len(exact)] = exact
    return {"cat_columns": columns, "cat_values": values, "cat_codes": codes}


def _column_order(model: Any) -> np.ndarray:
    """The input column of each column the trees see (the encoder puts categorical ones first)."""
    if model._preprocessor is None:
        return np.arange(model.n_features_in_)
    return np.concatenate(
        [np.flatnonzero(model.is_categorical_), np.flatnonzero(~model.is_categorical_)]
    )


def _tree_nodes(
    predictor: Any,
    n_nodes: int,
    columns: np.ndarray,
    known_bitsets: np.ndarray,
    known_rows: np.ndarray,
    first_bitset: int,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """One ``TreePredictor``'s nodes padded to ``n_nodes``, and its categorical splits' bitsets.

    Leaves and padding point to themselves, so that extra traversal steps stay put. Each
    categorical split gets its own bitset (row ``first_bitset`` on in the shared table): its left
    bitset, plus the feature's unknown categories when missing values go left.
    """
    nodes = predictor.nodes
    size = len(nodes)
    leaf = nodes["is_leaf"].astype(bool)
    missing_left = nodes["missing_go_to_left"].astype(bool)
    categorical = nodes["is_categorical"].astype(bool) & ~leaf
    split_idx = np.flatnonzero(categorical)
    unknown = ~known_bitsets[known_rows[nodes["feature_idx"][split_idx]]]
    bitsets = predictor.raw_left_cat_bitsets[nodes["bitset_idx"][split_idx]] | np.where(
        missing_left[split_idx, None], unknown, np.uint32(0)
    )
    bitset_row = np.zeros(size, np.int32)
    bitset_row[split_idx] = first_bitset + np.arange(len(split_idx))
    self_idx = np.arange(size)
    fields = {
        "feature": columns[nodes["feature_idx"]],
        "threshold": float32_toward(nodes["num_threshold"], -np.inf),
        "missing_left": missing_left,
        "categorical": categorical,
        "bitset": bitset_row,
        "left": np.where(leaf, self_idx, nodes["left"]),
        "right": np.where(leaf, self_idx, nodes["right"]),
        "value": nodes["value"],
    }
    padding = np.arange(size, n_nodes)
    pads = {"left": padding, "right": padding}
    padded = {
        name: np.concatenate([values, pads.get(name, np.zeros(n_nodes - size, values.dtype))])
        for name, values in fields.items()
    }
    return padded, bitsets


def tree_arrays(model: Any) -> tuple[dict[str, np.ndarray], TreesSpec]:
    """All numeric arrays describing every tree of a fitted ``HistGradientBoosting`` model.

    Trees are ordered iteration by iteration, output column by output column (tree ``t`` adds to
    column ``t % n_outputs``), and padded to the largest node count. Node arrays have shape
    ``(n_trees, n_nodes)``: ``feature`` (input column), ``threshold``, ``missing_left``,
    ``categorical``, ``bitset`` (row of ``cat_bitsets``), ``left`` and ``right`` (node indices in
    the same tree) and ``value``. Also: ``cat_bitsets`` ``(n_categorical_splits + 1, 8)``,
    ``baseline`` ``(n_outputs,)`` and the categorical encoder's ``cat_columns``, ``cat_values``
    and ``cat_codes``.

    Args:
        model: A fitted ``HistGradientBoostingClassifier`` or ``HistGradientBoostingRegressor``.

    Returns:
        The arrays (int32, uint32, float32 or bool) and the static :class:`TreesSpec`.

    Raises:
        TypeError: If ``model`` is of any other type.
        ValueError: If it is not fitted, its loss has an unsupported link, or a categorical
            feature has non-numeric categories.

    Example:
        >>> from sklearn.ensemble import HistGradientBoostingRegressor
        >>> x = np.arange(40, dtype=np.float32).reshape(20, 2)
        >>> model = HistGradientBoostingRegressor(max_iter=3).fit(x, x[:, 0] % 7)
        >>> arrays, spec = tree_arrays(model)
        >>> arrays["left"].shape[0], spec.n_outputs, spec.link
        (3, 1, 'identity')
    """
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    if not isinstance(model, HistGradientBoostingClassifier | HistGradientBoostingRegressor):
        raise TypeError(
            "model must be a HistGradientBoostingClassifier or HistGradientBoostingRegressor, "
            f"got {type(model).__module__}.{type(model).__name__}"
        )
    if not hasattr(model, "_predictors"):
        raise ValueError(f"{type(model).__name__} is not fitted")
    predictors = [predictor for iteration in model._predictors for predictor in iteration]
    n_nodes = max(len(predictor.nodes) for predictor in predictors)
    known_bitsets, known_rows = model._bin_mapper.make_known_categories_bitsets()
    columns = _column_order(model)
    trees, bitsets = [], [np.zeros((1, 8), np.uint32)]  # row 0: for the non-categorical nodes
    n_bitsets = 1
    for predictor in predictors:
        nodes, split_bitsets = _tree_nodes(
            predictor, n_nodes, columns, known_bitsets, known_rows, n_bitsets
        )
        trees.append(nodes)
        bitsets.append(split_bitsets)
        n_bitsets += len(split_bitsets)
    dtypes: dict[str, type[np.generic]] = {
        "missing_left": np.bool_,
        "categorical": np.bool_,
        "threshold": np.float32,
        "value": np.float32,
    }
    arrays: dict[str, np.ndarray] = {
        name: np.stack([tree[name] for tree in trees]).astype(dtypes.get(name, np.int32))
        for name in trees[0]
    }
    arrays["cat_bitsets"] = np.concatenate(bitsets).astype(np.uint32)
    arrays["baseline"] = model._baseline_prediction.reshape(-1).astype(np.float32)
    arrays.update(_category_tables(model))
    spec = TreesSpec(
        depth=max(int(predictor.nodes["depth"].max()) for predictor in predictors),
        n_outputs=model.n_trees_per_iteration_,
        link=_link(model),
    )
    return arrays, spec


def _encode_categories(arrays: Mapping[str, jax.Array], x: jax.Array) -> jax.Array:
    """``x`` with each categorical column replaced by its category code, NaN if unknown."""
    columns = arrays["cat_columns"]
    raw = x[:, columns]
    # searchsorted as a count of smaller categories: comparisons convert to ONNX, vmap does not
    idx = jnp.sum(arrays["cat_values"][None, :, :] < raw[:, :, None], axis=-1)
    idx = jnp.minimum(idx, arrays["cat_values"].shape[1] - 1)
    rows = jnp.arange(columns.shape[0])
    codes = arrays["cat_codes"][rows, idx]
    found = (arrays["cat_values"][rows, idx] == raw) & (codes >= 0)
    return x.at[:, columns].set(jnp.where(found, codes.astype(x.dtype), jnp.nan))


def _in_bitset(bitsets: jax.Array, rows: jax.Array, values: jax.Array) -> jax.Array:
    """Whether each code ``values`` (float, clipped to 0..255) is in bitset ``bitsets[rows]``."""
    codes = jnp.clip(jnp.nan_to_num(values).astype(jnp.int32), 0, 255).astype(jnp.uint32)
    words = bitsets[rows, (codes >> 5).astype(jnp.int32)]
    return ((words >> (codes & 31)) & 1).astype(bool)


def _flat_nodes(arrays: Mapping[str, jax.Array]) -> dict[str, jax.Array]:
    """The node arrays, flattened: node ``i`` of tree ``t`` becomes ``t * n_nodes + i``."""
    n_trees, n_nodes = arrays["left"].shape
    first = jnp.arange(n_trees, dtype=jnp.int32)[:, None] * n_nodes
    flat = {name: jnp.ravel(arrays[name]) for name in _NODE_FIELDS}
    flat.update({name: jnp.ravel(arrays[name] + first) for name in ("left", "right")})
    return flat


def tree_raw(spec: TreesSpec, arrays: Mapping[str, jax.Array], x: jax.Array) -> jax.Array:
    """Raw predictions, what the model's ``_raw_predict`` returns, for float32 rows.

    All trees are traversed at once: the current node of every (row, tree) pair takes
    ``spec.depth`` steps (unrolled, so that the program also converts to ONNX), each a gather
    of the node's split and of the row's feature value.

    Args:
        spec: The :class:`TreesSpec` from :func:`tree_arrays`.
        arrays: The arrays from :func:`tree_arrays` (NumPy or JAX).
        x: Rows of shape ``(n, n_features)``, float32, NaN for missing values.

    Returns:
        Float32 raw predictions of shape ``(n, spec.n_outputs)``.

    Example:
        >>> from sklearn.ensemble import HistGradientBoostingRegressor
        >>> x = np.arange(40, dtype=np.float32).reshape(20, 2)
        >>> model = HistGradientBoostingRegressor(max_iter=3).fit(x, x[:, 0] % 7)
        >>> arrays, spec = tree_arrays(model)
        >>> raw = tree_raw(spec, arrays, x[:4])
        >>> bool(np.allclose(raw, model._raw_predict(x[:4]), atol=1e-6))
        True
    """
    arrays = {name: jnp.asarray(values) for name, values in arrays.items()}
    x = jnp.asarray(x)
    categorical = arrays["cat_columns"].shape[0] > 0
    if categorical:
        x = _encode_categories(arrays, x)
    node = _flat_nodes(arrays)
    n_trees, n_nodes = arrays["left"].shape

    def step(current: jax.Array) -> jax.Array:
        value = jnp.take_along_axis(x, node["feature"][current], axis=1)
        go_left = value <= node["threshold"][current]
        if categorical:  # boolean algebra, not a select of booleans (ONNX Runtime has none)
            in_left = _in_bitset(arrays["cat_bitsets"], node["bitset"][current], value)
            split = node["categorical"][current]
            go_left = (split & in_left) | (~split & go_left)
        missing = jnp.isnan(value)
        go_left = (missing & node["missing_left"][current]) | (~missing & go_left)
        return jnp.where(go_left, node["left"][current], node["right"][current])

    leaves = jnp.zeros((x.shape[0], 1), jnp.int32) + jnp.arange(n_trees, dtype=jnp.int32) * n_nodes
    for _ in range(spec.depth):  # unrolled: ONNX converters take no loop over closures
        leaves = step(leaves)
    values = node["value"][leaves].reshape(x.shape[0], n_trees // spec.n_outputs, spec.n_outputs)
    return arrays["baseline"] + values.sum(axis=1)


def tree_predict(spec: TreesSpec, arrays: Mapping[str, jax.Array], x: jax.Array) -> jax.Array:
    """What the model's ``predict_proba`` (classifier) or ``predict`` (regressor) returns.

    Args:
        spec: The :class:`TreesSpec` from :func:`tree_arrays`.
        arrays: The arrays from :func:`tree_arrays` (NumPy or JAX).
        x: Rows of shape ``(n, n_features)``, float32, NaN for missing values.

    Returns:
        Float32 class probabilities ``(n, n_classes)`` (binary: ``[1 - p, p]``) or predictions
        ``(n,)``.

    Example:
        >>> from sklearn.ensemble import HistGradientBoostingClassifier
        >>> x = np.arange(40, dtype=np.float32).reshape(20, 2)
        >>> model = HistGradientBoostingClassifier(max_iter=3).fit(x, x[:, 0] % 3 > 0)
        >>> arrays, spec = tree_arrays(model)
        >>> proba = tree_predict(spec, arrays, x[:4])
        >>> bool(np.allclose(proba, model.predict_proba(x[:4]), atol=1e-6))
        True
    """
    raw = tree_raw(spec, arrays, x)
    if spec.link == "softmax":
        return jax.nn.softmax(raw, axis=1)
    if spec.link == "sigmoid":
        p = jax.nn.sigmoid(raw)
        return jnp.concatenate([1 - p, p], axis=1)
    return jnp.exp(raw[:, 0]) if spec.link == "exp" else raw[:, 0]
