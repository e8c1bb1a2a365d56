"""``hx.quantize``: static int8 QDQ of an export's ONNX graph, kept only if the metric holds."""

import json

import numpy as np
import onnxruntime as ort
import pytest
from export_models import CLASSES, MLP, N_FEATURES, tabular
from flax import nnx

import hyperflax as hx
from hyperflax.export import export_model, load_model


@pytest.fixture
def classifier(tmp_path):
    path = export_model(
        hx.models.MLP(
            in_features=N_FEATURES, out_features=len(CLASSES), hidden=[256, 256],
            rngs=nnx.Rngs(2),
        ),
        tmp_path / "c",
        example_input=tabular(4), class_labels=CLASSES, formats=("jax", "onnx"),
    )  # fmt: skip
    x = tabular(600, seed=5)
    return path, x, load_model(path).predict(x)  # labels: the float32 model's own


def test_int8_keeps_the_decisions_and_shrinks_the_graph(classifier):
    path, x, labels = classifier
    report = hx.quantize(path, x[:300], (x[300:], labels[300:]), max_drop=0.05)
    assert report.metric == "accuracy" and report.float32 == 1.0
    assert report.int8 >= 0.95  # measured 0.973-0.993 over 6 seeds of the model
    assert report.size_int8 < report.size_float32 / 2  # 256 x 256 weights dominate
    assert "1,000 rows" in str(report)
    manifest = json.loads((path / "hyperflax.json").read_text())
    assert manifest["onnx"]["int8"]["int8"] == report.int8
    assert "model.int8.onnx" in manifest["files"]
    session = ort.InferenceSession(
        str(path / "model.int8.onnx"), providers=["CPUExecutionProvider"]
    )
    kinds = {
        node.op_type for node in __import__("onnx").load(str(path / "model.int8.onnx")).graph.node
    }
    assert {"QuantizeLinear", "DequantizeLinear"} <= kinds
    assert session.run(None, {session.get_inputs()[0].name: x[:3]})[0].shape == (3, len(CLASSES))
    load_model(path)  # the checksums still hold


def test_a_drop_beyond_the_limit_writes_nothing(classifier):
    path, x, labels = classifier
    before = (path / "hyperflax.json").read_text()
    with pytest.raises(ValueError, match="more than max_drop=-1; nothing was written"):
        hx.quantize(path, x[:300], (x[300:], labels[300:]), max_drop=-1)
    assert not (path / "model.int8.onnx").exists()
    assert (path / "hyperflax.json").read_text() == before


def test_a_regressor_reports_rmse_and_an_export_without_onnx_is_named(tmp_path):
    model = MLP(N_FEATURES, 1, rngs=nnx.Rngs(0))
    path = export_model(model, tmp_path / "r", example_input=tabular(4), formats=("jax", "onnx"))
    x = tabular(400, seed=1)
    y = load_model(path).predict(x).ravel() + np.random.default_rng(0).normal(size=400)
    report = hx.quantize(path, x[:200], (x[200:], y[200:]), max_drop=0.05)
    assert report.metric == "rmse" and report.int8 <= report.float32 * 1.05
    plain = export_model(model, tmp_path / "plain", example_input=tabular(4))
    with pytest.raises(ValueError, match=r"has no model.onnx; export it with formats=\('jax'"):
        hx.quantize(plain, x, (x, y))


def test_targets_are_checked_and_a_failure_midway_leaves_the_export_as_it_was(
    classifier, monkeypatch
):
    path, x, labels = classifier
    with pytest.raises(ValueError, match="pass the labels, not their indices"):
        hx.quantize(path, x[:300], (x[300:], np.zeros(300, int)))
    with pytest.raises(ValueError, match="as many targets as rows"):
        hx.quantize(path, x[:300], (x[300:], []))
    report = hx.quantize(path, x[:300], (x[300:], labels[300:, None]), max_drop=0.05)
    assert report.float32 == 1.0  # targets of shape (n, 1) are labels too
    before = {p.name: p.read_bytes() for p in path.iterdir()}

    def broken(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("hyperflax.export._quantize.finish_mlmodel", broken)
    with pytest.raises(KeyboardInterrupt):
        hx.quantize(path, x[:200], (x[300:], labels[300:]), max_drop=0.05)
    assert {p.name: p.read_bytes() for p in path.iterdir()} == before
    load_model(path)
