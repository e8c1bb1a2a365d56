import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import mlflow
import numpy as np
import pytest
import yaml
from export_models import images, tabular

from hyperflax.export import load_model

SERVER_START_TIMEOUT_S = 120


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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_serving(server: subprocess.Popen, url: str, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        assert server.poll() is None, log.read_text()
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"{url}/ping", timeout=2) as response,
        ):
            if response.status == 200:
                return
        time.sleep(0.5)
    pytest.fail(f"mlflow models serve did not answer /ping within {SERVER_START_TIMEOUT_S} s")


def stop(server: subprocess.Popen) -> None:
    """Stop the server and the workers it started (its own process group)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def start_server(model: Path, port: int, log: Path) -> subprocess.Popen:
    """Start ``mlflow models serve`` in its own process group, logging to ``log``."""
    bin_dir = Path(sys.executable).parent  # mlflow runs uvicorn from PATH
    command = [bin_dir / "mlflow", "models", "serve", "-m", str(model)]
    command += ["--env-manager", "local", "--host", "127.0.0.1", "--port", str(port)]
    path = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
    with log.open("wb") as log_file:
        return subprocess.Popen(
            command,
            cwd=log.parent,
            env=os.environ | {"MLFLOW_MODELS_WORKERS": "1", "PATH": path},
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def test_rest_round_trip_with_mlflow_models_serve(regressor_path, tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    server = start_server(regressor_path, port, log)
    try:
        wait_until_serving(server, url, log)
        x = tabular(3, seed=11)
        request = urllib.request.Request(
            f"{url}/invocations",
            data=json.dumps({"inputs": x.tolist()}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            predictions = np.array(json.loads(response.read())["predictions"])
        np.testing.assert_allclose(predictions, load_model(regressor_path).predict(x), atol=1e-5)
    finally:
        stop(server)
