import json
import os
import sys
from pathlib import Path

import mlflow
import numpy as np
import yaml
from export_models import images, tabular
from serving import free_port, invoke, start, stop, wait_until_serving

from hyperflax.export import load_model


def test_pyfunc_predictions_match_the_predictor(classifier_path):
    x = images(5, seed=7)
    pyfunc = mlflow.pyfunc.load_model(str(classifier_path))
    np.testing.assert_array_equal(pyfunc.predict(x), load_model(classifier_path).predict(x))


def test_mlmodel_is_models_from_code_with_signature_example_and_requirements(classifier_path):
    mlmodel = yaml.safe_load((classifier_path / "MLmodel").read_text())
    flavor = mlmodel["flavors"]["python_function"]
    assert flavor["loader_module"] == "mlflow.pyfunc.loaders.code_model"
    assert Path(flavor["model_code_path"]).name == "hyperflax_pyfunc.py"
    assert "python_model" not in flavor  # nothing pickled
    assert not list(classifier_path.glob("*.pkl"))
    inputs = json.loads(mlmodel["signature"]["inputs"])
    assert inputs == [
        {"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 8, 8, 1]}}
    ]
    assert (classifier_path / "input_example.json").is_file()
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
