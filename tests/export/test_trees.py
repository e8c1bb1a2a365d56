"""HistGradientBoosting models as arrays, evaluated in JAX, against scikit-learn's own output."""

import copy

import jax
import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from hyperflax.export._trees import TreesSpec, tree_arrays, tree_predict, tree_raw

TOL = {"rtol": 1e-5, "atol": 1e-5}


@pytest.fixture(autouse=True, scope="module")
def _one_openmp_thread():
    """Small fits are fastest, and steadiest on a busy machine, on one OpenMP thread."""
    with threadpool_limits(1, user_api="openmp"):
        yield


def features(n: int, n_features: int, seed: int, missing: float = 0.0) -> np.ndarray:
    """Float32 rows, a fraction ``missing`` of them NaN in each column."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, n_features)).astype(np.float32)
    x[rng.random(x.shape) < missing] = np.nan
    return x


def target(x: np.ndarray) -> np.ndarray:
    """A smooth function of the first three columns, with a step where column 1 is missing."""
    x = np.nan_to_num(x.astype(np.float64), nan=2.0)
    return np.sin(2 * x[:, 0]) + x[:, 1] * x[:, 2] + 0.5 * x[:, 2]


def assert_matches(model, x: np.ndarray) -> None:
    """The jitted functions give what the model gives for ``x`` (float32) as float64."""
    arrays, spec = tree_arrays(model)
    raw = jax.jit(tree_raw, static_argnums=0)(spec, arrays, x)
    predict = jax.jit(tree_predict, static_argnums=0)(spec, arrays, x)
    x64 = x.astype(np.float64)
    expected = model.predict_proba(x64) if hasattr(model, "classes_") else model.predict(x64)
    assert raw.dtype == predict.dtype == np.float32
    np.testing.assert_allclose(raw, model._raw_predict(x64), **TOL)
    np.testing.assert_allclose(predict, expected, **TOL)


@pytest.fixture(scope="module")
def regressor() -> HistGradientBoostingRegressor:
    x = features(200, 5, seed=0, missing=0.15)  # < 255 distinct values: midpoint thresholds
    return HistGradientBoostingRegressor(max_iter=60, random_state=0).fit(x, target(x))


def test_arrays_are_compact_and_numeric(regressor):
    arrays, spec = tree_arrays(regressor)
    assert spec == TreesSpec(
        depth=max(p.get_max_depth() for [p] in regressor._predictors), n_outputs=1, link="identity"
    )
    assert arrays["left"].shape == (60, max(len(p.nodes) for [p] in regressor._predictors))
    assert {a.dtype for a in arrays.values()} <= set(map(np.dtype, ["i4", "u4", "f4", "?"]))


def test_regression_with_missing_values_and_an_all_missing_column(regressor):
    x = features(300, 5, seed=1, missing=0.2)
    x[:, 3] = np.nan
    assert_matches(regressor, x)


def test_rows_at_the_thresholds_take_scikit_learns_branch(regressor):
    nodes = np.concatenate([p.nodes for [p] in regressor._predictors])
    splits = nodes[~nodes["is_leaf"].astype(bool) & np.isfinite(nodes["num_threshold"])]
    thresholds = splits["num_threshold"]
    nearest = thresholds.astype(np.float32)
    assert (nearest > thresholds).any()  # rounding to nearest would send these rows left
    rows = np.repeat(features(1, 5, seed=2), 3 * len(splits), axis=0)
    columns = np.tile(splits["feature_idx"], 3)
    rows[np.arange(len(rows)), columns] = np.concatenate(
        [nearest, np.nextafter(nearest, np.float32(np.inf)), np.nextafter(nearest, -np.inf)]
    )
    assert_matches(regressor, rows)


def test_poisson_regression_applies_the_exponential():
    x = features(200, 3, seed=3)
    y = np.random.default_rng(3).poisson(np.exp(x[:, 0]))
    model = HistGradientBoostingRegressor(loss="poisson", max_iter=20).fit(x, y)
    assert tree_arrays(model)[1].link == "exp"
    assert_matches(model, features(100, 3, seed=4, missing=0.1))


def test_binary_classifier_gives_both_probabilities():
    x = features(300, 4, seed=5, missing=0.1)
    model = HistGradientBoostingClassifier(max_iter=40, random_state=0).fit(x, target(x) > 0)
    _, spec = tree_arrays(model)
    assert (spec.n_outputs, spec.link) == (1, "sigmoid")
    assert_matches(model, features(200, 4, seed=6, missing=0.1))


@pytest.mark.parametrize(("n_classes", "max_iter"), [(3, 30), (10, 200)])
def test_multiclass_classifier(n_classes, max_iter):
    x = features(40 * n_classes, 4, seed=7, missing=0.1)
    y = np.digitize(target(x), np.quantile(target(x), np.linspace(0, 1, n_classes + 1)[1:-1]))
    model = HistGradientBoostingClassifier(max_iter=max_iter, max_leaf_nodes=8, random_state=0)
    model.fit(x, y)
    arrays, spec = tree_arrays(model)
    assert (spec.n_outputs, spec.link) == (n_classes, "softmax")
    assert arrays["left"].shape[0] == n_classes * model.n_iter_
    assert_matches(model, features(100, 4, seed=8, missing=0.1))


def categorical_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Columns 1 and 3 hold category codes: 0..5 without 3 in column 1, 0..3 in column 3."""
    rng = np.random.default_rng(seed)
    x = features(n, 4, seed=seed, missing=0.1)
    x[:, 1] = rng.choice([0, 1, 2, 4, 5], n)
    x[:, 3] = rng.integers(0, 4, n)
    x[rng.random(n) < 0.1, 1] = np.nan
    x[rng.random(n) < 0.1, 3] = np.nan
    effect = np.array([2.0, -1.0, 0.5, 0.0, 3.0, -2.0])
    y = effect[np.nan_to_num(x[:, 1], nan=3).astype(int)] + np.nan_to_num(x[:, 3] * x[:, 0])
    return x, y


CATEGORICAL = np.array([False, True, False, True])


@pytest.fixture(scope="module")
def categorical_classifier() -> HistGradientBoostingClassifier:
    x, y = categorical_data(300, seed=9)
    model = HistGradientBoostingClassifier(
        max_iter=20, categorical_features=CATEGORICAL, random_state=0
    )
    return model.fit(x, np.digitize(y, [-1.0, 1.0]))


def unusual_categories(n: int, seed: int) -> np.ndarray:
    """Test rows whose codes include NaN, 3 (never seen), 9 (beyond), -1 and 2.5."""
    x, _ = categorical_data(n, seed)
    rng = np.random.default_rng(seed)
    x[:, 1] = rng.choice([np.nan, 0, 1, 2, 3, 4, 5, 9, -1, 2.5], n)
    x[:, 3] = rng.choice([np.nan, 0, 1, 2, 3, 7, -1], n)
    return x


def test_categorical_regression_with_unknown_and_negative_codes():
    x, y = categorical_data(300, seed=10)
    model = HistGradientBoostingRegressor(max_iter=30, categorical_features=CATEGORICAL)
    model.fit(x, y)
    arrays, _ = tree_arrays(model)
    split = arrays["categorical"]
    assert split.any() and arrays["missing_left"][split].any()
    assert not arrays["missing_left"][split].all()
    assert_matches(model, unusual_categories(300, seed=11))


def test_categorical_classifier_with_unknown_and_negative_codes(categorical_classifier):
    assert tree_arrays(categorical_classifier)[0]["categorical"].any()
    assert_matches(categorical_classifier, unusual_categories(300, seed=12))


def test_codes_outside_the_known_bitset_go_the_way_of_missing_values(categorical_classifier):
    # fit makes every category the encoder knows known to the trees too; forget one (code 3, raw
    # category 4 of input column 1, the trees' column 0) to reach the Cython's third branch
    model = copy.deepcopy(categorical_classifier)
    model._bin_mapper.bin_thresholds_[0] = np.array([0.0, 1.0, 2.0, 4.0])
    x = unusual_categories(300, seed=13)
    x[::2, 1] = 4.0
    assert_matches(model, x)
    assert not np.allclose(model.predict_proba(x), categorical_classifier.predict_proba(x))


def test_trees_of_different_depths_and_sizes():
    x = features(60, 3, seed=13, missing=0.1)
    model = HistGradientBoostingRegressor(
        max_iter=40, max_leaf_nodes=31, min_samples_leaf=2, random_state=0
    ).fit(x, target(x))
    sizes = {len(p.nodes) for [p] in model._predictors}
    depths = {p.get_max_depth() for [p] in model._predictors}
    assert len(sizes) > 3 and len(depths) > 1
    assert_matches(model, features(200, 3, seed=14, missing=0.1))


def test_exported_program_with_a_symbolic_batch(categorical_classifier):
    arrays, spec = tree_arrays(categorical_classifier)
    (batch,) = jax.export.symbolic_shape("batch")
    x_spec = jax.ShapeDtypeStruct((batch, 4), np.float32)
    array_specs = {name: jax.ShapeDtypeStruct(a.shape, a.dtype) for name, a in arrays.items()}
    exported = jax.export.export(
        jax.jit(lambda a, x: tree_predict(spec, a, x)), platforms=("cpu",)
    )(array_specs, x_spec)
    program = jax.export.deserialize(exported.serialize())
    for n in (1, 37):
        x = unusual_categories(n, seed=15 + n)
        np.testing.assert_allclose(
            program.call(arrays, x),
            categorical_classifier.predict_proba(x.astype(np.float64)),
            **TOL,
        )


def test_other_models_and_unfitted_ones_are_refused():
    with pytest.raises(TypeError, match="HistGradientBoosting"):
        tree_arrays(object())
    with pytest.raises(ValueError, match="not fitted"):
        tree_arrays(HistGradientBoostingRegressor())
