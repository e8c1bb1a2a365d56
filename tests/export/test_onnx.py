"""``formats=("jax", "onnx")``: one ONNX graph per export, agreeing with the JAX program."""

import json

import numpy as np
import onnxruntime as ort
import pytest
from export_models import CLASSES, MLP, N_FEATURES, ConvNet, images, tabular
from flax import nnx
from sklearn.preprocessing import MinMaxScaler, StandardScaler

import hyperflax as hx
from hyperflax.export import export_model, load_model


def _run(path, x):
    session = ort.InferenceSession(str(path / "model.onnx"), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


@pytest.mark.parametrize("scaler", [None, StandardScaler, MinMaxScaler])
def test_the_onnx_graph_agrees_with_the_jax_program_at_any_batch(scaler, tmp_path):
    train = tabular(50, seed=3) * 4 + 2
    fitted = None if scaler is None else scaler().fit(train)
    path = export_model(
        MLP(N_FEATURES, 2, rngs=nnx.Rngs(0)), tmp_path / "m", example_input=train[:4],
        preprocessing=fitted, formats=("jax", "onnx"),
    )  # fmt: skip
    predictor = load_model(path)
    for n in (1, 7, 300):  # the batch dimension is symbolic
        x = tabular(n, seed=n) * 4 + 2
        np.testing.assert_allclose(_run(path, x), predictor.outputs(x), rtol=1e-5, atol=1e-5)
    manifest = json.loads((path / "hyperflax.json").read_text())
    assert manifest["onnx"]["file"] == "model.onnx" and "model.onnx" in manifest["files"]
    session = ort.InferenceSession(str(path / "model.onnx"), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape[0] == "batch"


def test_a_classifier_exports_logits_and_mlflow_reads_the_onnx_flavor(tmp_path):
    import mlflow.onnx

    model = ConvNet(len(CLASSES), rngs=nnx.Rngs(1))
    path = export_model(
        model, tmp_path / "c", example_input=images(3), class_labels=CLASSES,
        formats=("jax", "onnx"),
    )  # fmt: skip
    x = images(9, seed=4)
    logits = _run(path, x)
    predictor = load_model(path)
    np.testing.assert_allclose(logits, predictor.outputs(x), rtol=1e-4, atol=1e-5)
    assert (np.asarray(CLASSES)[logits.argmax(1)] == predictor.predict(x)).all()
    graph = mlflow.onnx.load_model(str(path))
    assert graph.graph.input[0].name == json.loads((path / "hyperflax.json").read_text())[
        "onnx"]["input"]  # fmt: skip
    assert mlflow.pyfunc.load_model(str(path)).predict(x).shape == (9,)  # pyfunc unchanged


def test_the_hyperflax_mlp_with_masked_widths_converts(tmp_path):
    model = hx.models.MLP(in_features=N_FEATURES, out_features=3, hidden=[32, 16], rngs=nnx.Rngs(0))
    path = export_model(model, tmp_path / "m", example_input=tabular(2), formats=["jax", "onnx"])
    x = tabular(20, seed=1)
    np.testing.assert_allclose(_run(path, x), load_model(path).outputs(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("formats", [("onnx",), ("jax", "tflite"), "onnx", ("jax", "ort")])
def test_unknown_formats_are_refused_before_anything_is_written(formats, tmp_path):
    with pytest.raises(ValueError, match=r"formats must hold .jax. and optionally .onnx. \(and"):
        export_model(
            MLP(N_FEATURES, 2, rngs=nnx.Rngs(0)), tmp_path / "m", example_input=tabular(2),
            formats=formats,
        )  # fmt: skip
    assert not (tmp_path / "m").exists()


def test_the_ort_format_for_onnx_runtime_mobile_loads_back_and_agrees(tmp_path):
    path = export_model(
        MLP(N_FEATURES, 2, rngs=nnx.Rngs(0)), tmp_path / "m", example_input=tabular(4),
        formats=("jax", "onnx", "ort"),
    )  # fmt: skip
    session = ort.InferenceSession(str(path / "model.ort"), providers=["CPUExecutionProvider"])
    x = tabular(11, seed=2)
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, load_model(path).outputs(x), rtol=1e-5, atol=1e-5)
    assert json.loads((path / "hyperflax.json").read_text())["ort"]["file"] == "model.ort"


@pytest.mark.parametrize("dtype", [np.int64, np.float64])
def test_integer_and_float64_inputs_convert_with_their_scaler(dtype, tmp_path):
    train = (tabular(40, seed=6) * 5).astype(dtype)
    path = export_model(
        MLP(N_FEATURES, 2, rngs=nnx.Rngs(0)), tmp_path / "m", example_input=train[:4],
        preprocessing=StandardScaler().fit(train), formats=("jax", "onnx", "ort"),
    )  # fmt: skip
    x = (tabular(6, seed=9) * 5).astype(dtype)
    cast = x.astype(np.int32 if dtype == np.int64 else np.float32)  # the program's input dtype
    np.testing.assert_allclose(_run(path, cast), load_model(path).outputs(x), rtol=1e-5, atol=1e-5)
