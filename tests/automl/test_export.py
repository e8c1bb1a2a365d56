"""A fitted AutoML estimator exported as one program: same predictions, no scikit-learn needed."""

import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes, load_digits

import hyperflax
import hyperflax as hx
from hyperflax.automl import TabularClassifier, TabularRegressor

EVERY_FAMILY = ["hgb", "kernel", "linear", "knn", "mlp", "realmlp", "tabm"]


def _new_rows(X: pd.DataFrame) -> pd.DataFrame:
    """Rows unlike training: unseen categories, an all-missing column, missing everywhere."""
    new = X.iloc[:40].copy()
    new.loc[new.index[:10], "few"] = np.nan
    new["many"] = new["many"].astype(object)
    new.loc[new.index[5:15], "many"] = "never-seen"
    new["num"] = np.nan
    new.loc[new.index[20:], "text"] = pd.NA
    return pd.concat([new, X.iloc[40:120]])


@pytest.fixture(scope="module")
def bagged_classifier(mixed):
    """Every family, bagged on 3 folds, with the stack layer if it helps."""
    X, y = mixed
    clf = TabularClassifier(
        time_limit=120, families=EVERY_FAMILY, max_trials=8, n_folds=3, seed=0, presets="fast"
    )
    return clf.fit(X, y)


def test_classifier_export_predicts_what_the_estimator_predicts(tmp_path, mixed, bagged_classifier):
    X, _ = mixed
    clf = bagged_classifier
    assert set(clf.leaderboard()["family"]) == set(EVERY_FAMILY)
    path = clf.export(tmp_path / "clf")
    predictor = hx.load_model(path)
    rows = _new_rows(X)
    np.testing.assert_allclose(predictor.predict_proba(rows), clf.predict_proba(rows), atol=1e-5)
    np.testing.assert_array_equal(predictor.predict(rows), clf.predict(rows))
    # rows by position work too, and the labels are the training labels
    np.testing.assert_array_equal(predictor.predict(rows.to_numpy()), clf.predict(rows))
    assert predictor.class_labels == ["no", "yes"]
    manifest = json.loads((path / "hyperflax.json").read_text())
    kinds = {c["name"]: c["kind"] for c in manifest["columns"]}
    assert kinds == {"num": "numeric", "int": "numeric", "few": "categorical",
                     "many": "categorical", "text": "categorical", "flag": "numeric"}  # fmt: skip
    assert manifest["metadata"]["validation_score"] == pytest.approx(clf.validation_score_)
    assert not list(path.rglob("*.pkl")) and not list(path.rglob("*.skops"))


def test_export_runs_without_scikit_learn_flax_or_pickle(tmp_path, mixed, bagged_classifier):
    X, _ = mixed
    path = bagged_classifier.export(tmp_path / "clf")
    rows = _new_rows(X)
    rows.to_csv(tmp_path / "rows.csv", index=False)
    np.save(tmp_path / "want.npy", bagged_classifier.predict_proba(rows))
    code = f"""
import sys
for name in ("sklearn", "flax", "optax", "skops"):
    sys.modules[name] = None  # importing any of them now fails
import numpy as np, pandas as pd
from hyperflax.export import load_model
rows = pd.read_csv({str(tmp_path / "rows.csv")!r})
got = load_model({str(path)!r}).predict_proba(rows)
np.testing.assert_allclose(got, np.load({str(tmp_path / "want.npy")!r}), atol=1e-5)
print("ok")
"""
    src = str(Path(hyperflax.__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": src}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "ok"


def test_export_is_an_mlflow_model_taking_a_dataframe(tmp_path, mixed, bagged_classifier):
    X, _ = mixed
    path = hx.export_model(bagged_classifier, tmp_path / "clf")
    rows = _new_rows(X)
    served = mlflow.pyfunc.load_model(str(path)).predict(rows)
    np.testing.assert_array_equal(np.asarray(served), bagged_classifier.predict(rows))
    with pytest.raises(TypeError, match="without example_input"):
        hx.export_model(bagged_classifier, tmp_path / "other", example_input=X)
    with pytest.raises(ValueError, match="lacks the columns"):
        hx.load_model(path).predict(rows.drop(columns="few"))


def test_regressor_with_seeds_and_a_stack_layer_exports_the_same_values(tmp_path):
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    reg = TabularRegressor(
        time_limit=120, families=["hgb", "linear", "realmlp"], max_trials=3, n_folds=3,
        n_seeds=2, seed=0, presets="fast",
    ).fit(X, y)  # fmt: skip
    path = reg.export(tmp_path / "reg")
    got = hx.load_model(path).predict(X)
    np.testing.assert_allclose(got, reg.predict(X), rtol=1e-5, atol=1e-3)  # y in the hundreds
    assert got.shape == (len(X),)


def test_multiclass_held_out_fit_exports_trees_and_tabm(tmp_path):
    X, y = load_digits(return_X_y=True)
    X, y = X[:600].copy(), y[:600]
    X[:, 0] = np.nan  # a column missing in every training row (HistGradientBoosting refuses it)
    clf = TabularClassifier(
        time_limit=120, families=["hgb", "tabm"], max_trials=3, n_folds=0, seed=0,
        presets="fast",
    ).fit(X, y)  # fmt: skip
    assert set(clf.leaderboard()["family"]) == {"hgb", "tabm"}
    path = clf.export(tmp_path / "digits")
    predictor = hx.load_model(path)
    np.testing.assert_allclose(predictor.predict_proba(X), clf.predict_proba(X), atol=1e-5)
    X[:50, 0] = 3.0  # present at predict time
    np.testing.assert_allclose(predictor.predict_proba(X), clf.predict_proba(X), atol=1e-5)
    assert predictor.class_labels == list(range(10))


def test_binary_threshold_travels_with_the_export(tmp_path, cancer):
    X, y = cancer
    clf = TabularClassifier(
        time_limit=60, families=["linear"], max_trials=1, n_folds=3, metric="accuracy",
        calibrate_threshold=True,
    ).fit(X, y)  # fmt: skip
    predictor = hx.load_model(clf.export(tmp_path / "cancer"))
    assert predictor.decision_threshold == pytest.approx(clf.decision_threshold_)
    np.testing.assert_array_equal(predictor.predict(X), clf.predict(X))


def test_ensemble_exports_as_one_onnx_graph_and_quantizes(tmp_path, mixed, bagged_classifier):
    ort = pytest.importorskip("onnxruntime")
    X, y = mixed
    path = bagged_classifier.export(tmp_path / "clf", formats=("jax", "onnx", "ort"))
    predictor = hx.load_model(path)
    rows = _new_rows(X)
    codes = predictor.encode(rows)
    assert codes.dtype == np.float32 and codes.shape == (len(rows), X.shape[1])
    for name in ("model.onnx", "model.ort"):
        session = ort.InferenceSession(str(path / name), providers=["CPUExecutionProvider"])
        got = session.run(None, {session.get_inputs()[0].name: codes})[0]
        np.testing.assert_allclose(got, bagged_classifier.predict_proba(rows), atol=1e-4)
    assert "onnx" in (path / "MLmodel").read_text()
    # int8: the calibration and validation rows are DataFrames, encoded as predict does;
    # only dense layers are quantized, so trees, lookups and preprocessing stay exact
    report = hx.quantize(path, X.iloc[:200], (X.iloc[200:], y[200:]), max_drop=0.2)
    assert report.metric == "accuracy" and report.float32 == pytest.approx(
        np.mean(bagged_classifier.predict(X.iloc[200:]) == y[200:]), abs=1e-9
    )
    int8_file = str(path / "model.int8.onnx")
    session = ort.InferenceSession(int8_file, providers=["CPUExecutionProvider"])
    int8 = session.run(None, {session.get_inputs()[0].name: codes})[0]
    np.testing.assert_allclose(int8.sum(axis=1), 1.0, atol=1e-5)
    assert np.abs(int8 - bagged_classifier.predict_proba(rows)).max() < 0.1  # 1e-7 measured


@pytest.mark.parametrize("family", ["knn", "linear", "kernel"])
def test_a_concentrated_feature_and_nearest_neighbours_export_exactly(tmp_path, family):
    """Latitude-like values (37 +- 0.001) and more rows than quantiles: float32 rounding of
    the quantiles alone would move probabilities by 1e-3."""
    rng = np.random.default_rng(0)
    n = 1500
    X = pd.DataFrame({"lat": 37 + 1e-3 * rng.normal(size=n), "x": rng.normal(size=n)})
    X.loc[::11, "lat"] = np.nan
    y = np.where(np.nan_to_num(X["lat"] - 37, nan=0.0) * 1e3 + X["x"] > 0, "a", "b")
    clf = TabularClassifier(
        time_limit=60, families=[family], max_trials=1, n_folds=0, seed=0
    ).fit(X, y)  # fmt: skip
    assert [m.family for m, _ in clf.members_] == [family]
    predictor = hx.load_model(clf.export(tmp_path / family))
    # distance weights: a training row asked again is an exact match (weight 1) for the
    # estimator; the program's float32 features put it 1e-7 away (weight 1e7): 1.6e-5 measured.
    # The kernel's 1,000 landmarks in 3 dimensions nearly coincide: 7.6e-5 measured
    atol = {"knn": 1e-4, "kernel": 3e-4}.get(family, 1e-5)
    np.testing.assert_allclose(predictor.predict_proba(X), clf.predict_proba(X), atol=atol)
