import json
import os
import sys
import tempfile
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from export_models import N_FEATURES, images, tabular
from mlflow.exceptions import MlflowException
from serving import free_port, invoke, start, stop, wait_until_serving

from hyperflax.export import load_model


def test_pyfunc_predictions_match_the_predictor(classifier_path):
    x = images(5, seed=7)
    pyfunc = mlflow.pyfunc.load_model(str(classifier_path))
    np.testing.assert_array_equal(pyfunc.predict(x), load_model(classifier_path).predict(x))


def test_pyfunc_takes_float64_int_lists_and_frames_like_the_predictor(regressor_path):
    pyfunc, predictor = mlflow.pyfunc.load_model(str(regressor_path)), load_model(regressor_path)
    x = np.random.default_rng(5).normal(size=(4, N_FEATURES)) * 3  # float64, as scikit-learn's
    for given in (x, x.astype(np.int64), x.astype(np.int32), x.astype(np.float32) > 0):
        np.testing.assert_array_equal(pyfunc.predict(given), predictor.predict(given))
    for given in (x.tolist(), pd.DataFrame(x), pd.DataFrame(x).to_dict("list")):
        np.testing.assert_array_equal(pyfunc.predict(given), predictor.predict(x))


@pytest.mark.parametrize(
    ("x", "message"),
    [
        (
            np.full((2, N_FEATURES), "1.5"),
            r"expected a numeric input \(dtype float32\), got dtype <U3: the input of shape "
            r"\(batch, 5\) must hold numbers \(bool/int/float\)",
        ),
        (np.ones((2, N_FEATURES), np.complex64), r"got dtype complex64"),
        (np.ones((2, 4)), r"expected input of shape \(batch, 5\), got shape \(2, 4\)"),
        (np.full((1, N_FEATURES), 1e300), r"must fit the model's input dtype float32, got 1e\+300"),
    ],
)
def test_pyfunc_refuses_what_it_cannot_cast_naming_shape_and_dtype(regressor_path, x, message):
    pyfunc = mlflow.pyfunc.load_model(str(regressor_path))
    with pytest.raises(MlflowException, match=message):
        pyfunc.predict(x)


def test_mlmodel_names_no_path_of_the_build_machine_and_the_true_size(regressor_path):
    text = (regressor_path / "MLmodel").read_text()
    mlmodel = yaml.safe_load(text)
    assert mlmodel["flavors"]["python_function"]["model_code_path"] == "hyperflax_pyfunc.py"
    for machine_path in (tempfile.gettempdir(), str(regressor_path.parent), ".tmp"):
        assert machine_path not in text
    files = [p for p in regressor_path.iterdir() if p.name != "MLmodel"]
    assert mlmodel["model_size_bytes"] == sum(p.stat().st_size for p in files)


def test_mlmodel_is_models_from_code_with_signature_example_and_requirements(classifier_path):
    mlmodel = yaml.safe_load((classifier_path / "MLmodel").read_text())
    flavor = mlmodel["flavors"]["python_function"]
    assert flavor["loader_module"] == "mlflow.pyfunc.loaders.code_model"
    assert Path(flavor["model_code_path"]).name == "hyperflax_pyfunc.py"
    assert "python_model" not in flavor  # nothing pickled
    assert not list(classifier_path.glob("*.pkl"))
    assert mlmodel["signature"]["inputs"] is None  # MLflow would refuse float64, int and CSV
    outputs = json.loads(mlmodel["signature"]["outputs"])
    assert outputs == [{"type": "tensor", "tensor-spec": {"dtype": "str", "shape": [-1]}}]
    example = json.loads((classifier_path / "input_example.json").read_text())
    assert np.array(example).shape == (1, 8, 8, 1)
    requirements = (classifier_path / "requirements.txt").read_text().split()
    names = {r.split("==")[0] for r in requirements}
    assert {"jax", "jaxlib", "numpy", "flatbuffers", "hyperflax"} <= names


def test_rest_round_trip_with_mlflow_models_serve(regressor_path, tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    bin_dir = Path(sys.executable).parent  # mlflow runs uvicorn from PATH
    command = [str(bin_dir / "mlflow"), "models", "serve", "-m", str(regressor_path)]
    command += ["--env-manager", "local", "--host", "127.0.0.1", "--port", str(port)]
    server = start(
        command, os.environ | {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}, log
    )
    try:
        wait_until_serving(server, url, log)
        x = tabular(3, seed=11)
        np.testing.assert_allclose(invoke(url, x), load_model(regressor_path).predict(x), atol=1e-5)
    finally:
        stop(server)
