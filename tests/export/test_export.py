import json
from pathlib import Path

import numpy as np
import pytest
from export_models import (
    CLASSES,
    IMAGE_SHAPE,
    MLP,
    N_FEATURES,
    eval_output,
    images,
    tabular,
)
from flax import nnx

from hyperflax.export import export_model, load_model


@pytest.mark.parametrize("batch", [1, 7, 64])
def test_regressor_round_trip_for_any_batch_size(regressor, regressor_path, batch):
    x = tabular(batch, seed=batch)
    predictor = load_model(regressor_path)
    np.testing.assert_allclose(predictor.predict(x), eval_output(regressor, x), atol=1e-5)


@pytest.mark.parametrize("batch", [1, 7, 64])
def test_conv_classifier_round_trip_for_any_batch_size(classifier, classifier_path, batch):
    x = images(batch, seed=batch)
    predictor = load_model(classifier_path)
    logits = eval_output(classifier, x)
    np.testing.assert_allclose(predictor.outputs(x), logits, atol=1e-5)
    assert predictor.predict(x).tolist() == [CLASSES[i] for i in logits.argmax(axis=1)]
    proba = predictor.predict_proba(x)
    assert proba.shape == (batch, len(CLASSES))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(proba.argmax(axis=1), logits.argmax(axis=1))


def test_manifest_records_specs_task_metadata_versions_and_checksums(regressor_path):
    manifest = json.loads((regressor_path / "hyperflax.json").read_text())
    assert manifest["format_version"] == 1
    assert manifest["task"] == "regression"
    assert manifest["input"] == {"dtype": "float32", "shape": [None, N_FEATURES]}
    assert manifest["output"]["shape"] == [None, 2]
    assert manifest["class_labels"] is None
    assert manifest["metadata"] == {
        "hyperparameters": {"units": 16},
        "metrics": {"val_mse": 0.25},
    }
    assert set(manifest["versions"]) >= {"hyperflax", "jax", "jaxlib", "flax"}
    assert manifest["program"]["platforms"] == ["cpu", "cuda"]
    files = {p.name for p in regressor_path.iterdir()} - {"hyperflax.json"}
    assert set(manifest["files"]) == files
    assert {"MLmodel", "arrays.npz", "program.jaxexport", "hyperflax_pyfunc.py"} <= files


def test_predictor_exposes_metadata_and_input_spec(classifier_path):
    predictor = load_model(classifier_path)
    assert predictor.input_spec.shape == (None, *IMAGE_SHAPE)
    assert predictor.input_spec.dtype == np.float32
    assert predictor.task == "classification"
    assert predictor.class_labels == CLASSES
    assert predictor.metadata == {}


def test_binary_classifier_with_one_logit_uses_a_sigmoid(tmp_path):
    model = MLP(N_FEATURES, 1, rngs=nnx.Rngs(2))
    x = tabular(32)
    path = export_model(model, tmp_path / "m", example_input=x, metadata={"task": "classification"})
    predictor = load_model(path)
    logit = eval_output(model, x)[:, 0]
    proba = predictor.predict_proba(x)
    np.testing.assert_allclose(proba[:, 1], 1 / (1 + np.exp(-logit)), atol=1e-6)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(predictor.predict(x), (logit > 0).astype(int))
    assert json.loads((path / "hyperflax.json").read_text())["output"]["activation"] == "sigmoid"


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"class_labels": ["a", "b"]}, ValueError, "3 labels"),
        ({"metadata": {"when": object()}}, TypeError, "JSON-serializable"),
        ({"metadata": {"task": "ranking"}}, ValueError, "metadata\\['task'\\]"),
        ({"example_input": np.array([["a"] * N_FEATURES])}, ValueError, "numeric"),
    ],
)
def test_bad_arguments_are_rejected_before_writing(tmp_path, kwargs, error, message):
    arguments = {"example_input": tabular(2)} | kwargs
    with pytest.raises(error, match=message):
        export_model(MLP(N_FEATURES, 3, rngs=nnx.Rngs(0)), tmp_path / "m", **arguments)
    assert list(tmp_path.iterdir()) == []


def test_returns_the_absolute_path(regressor, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = export_model(regressor, "relative", example_input=tabular(2))
    assert path == Path(tmp_path / "relative").absolute()
    assert path.is_dir()
