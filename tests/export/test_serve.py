import json
import os
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from export_models import N_FEATURES, tabular
from serving import free_port, invoke, post, start, stop, wait_until_serving

from hyperflax.cli import main
from hyperflax.export import load_model

JSON = "application/json"


@pytest.fixture(scope="module")
def served(regressor_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``hyperflax serve`` of the regressor, started from a shell without the venv on PATH."""
    bin_dir = Path(sys.executable).parent
    entries = os.environ["PATH"].split(os.pathsep)
    path = os.pathsep.join(e for e in entries if e and Path(e) != bin_dir)
    assert shutil.which("uvicorn", path=path) is None, "uvicorn must not be on this PATH"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("serve") / "server.log"
    command = [sys.executable, "-m", "hyperflax", "serve", str(regressor_path)]
    server = start([*command, "--port", str(port)], os.environ | {"PATH": path}, log)
    try:
        wait_until_serving(server, url, log)
        yield url
    finally:
        stop(server)


def test_hyperflax_serve_answers_from_a_shell_without_the_venv_on_path(regressor_path, served):
    x = tabular(3, seed=11)
    np.testing.assert_array_equal(invoke(served, x), load_model(regressor_path).predict(x))


def _requests(x: np.ndarray) -> dict[str, tuple[str, str]]:
    """``x`` in every request form MLflow's scoring server takes: name -> (body, content type)."""
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(x.shape[1])])
    return {
        "csv": (frame.to_csv(index=False), "text/csv"),
        "inputs": (json.dumps({"inputs": x.tolist()}), JSON),
        "instances": (json.dumps({"instances": x.tolist()}), JSON),
        "instances_records": (json.dumps({"instances": frame.to_dict("records")}), JSON),
        "dataframe_split": (json.dumps({"dataframe_split": frame.to_dict("split")}), JSON),
        "dataframe_records": (json.dumps({"dataframe_records": frame.to_dict("records")}), JSON),
    }


@pytest.mark.parametrize("dtype", [np.float64, np.int64])
def test_every_request_form_gets_the_predictors_predictions(regressor_path, served, dtype):
    x = (np.random.default_rng(3).normal(size=(4, N_FEATURES)) * 3).astype(dtype)
    expected = load_model(regressor_path).predict(x)
    for form, (body, content_type) in _requests(x).items():
        status, answer = post(served, body, content_type)
        assert status == 200, (form, answer)
        np.testing.assert_array_equal(np.array(answer["predictions"]), expected, err_msg=form)


@pytest.mark.parametrize(
    ("x", "message"),
    [
        (np.full((2, N_FEATURES), "a"), r"expected a numeric input \(dtype float32\), got dtype"),
        (np.ones((2, N_FEATURES + 1)), r"expected input of shape \(batch, 5\), got shape \(2, 6\)"),
    ],
)
def test_a_request_the_model_cannot_take_is_a_400_naming_what_it_expects(served, x, message):
    for form, (body, content_type) in _requests(x).items():
        status, answer = post(served, body, content_type)
        assert status == 400, (form, answer)
        assert re.search(message, answer["message"]), (form, answer)


def test_serve_refuses_a_directory_that_is_not_an_exported_model(tmp_path):
    with pytest.raises(SystemExit, match=rf"'{tmp_path}': no hyperflax.json.*`path` must be"):
        main(["serve", str(tmp_path)])


def test_serve_refuses_a_port_out_of_range(regressor_path):
    with pytest.raises(SystemExit, match=r"port must be an int in \[1, 65535\], got 0"):
        main(["serve", str(regressor_path), "--port", "0"])
