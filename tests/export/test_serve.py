import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from export_models import tabular
from serving import free_port, invoke, start, stop, wait_until_serving

from hyperflax.cli import main
from hyperflax.export import load_model


def test_hyperflax_serve_answers_from_a_shell_without_the_venv_on_path(regressor_path, tmp_path):
    bin_dir = Path(sys.executable).parent
    entries = os.environ["PATH"].split(os.pathsep)
    path = os.pathsep.join(e for e in entries if e and Path(e) != bin_dir)
    assert shutil.which("uvicorn", path=path) is None, "uvicorn must not be on this PATH"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    command = [sys.executable, "-m", "hyperflax", "serve", str(regressor_path)]
    server = start([*command, "--port", str(port)], os.environ | {"PATH": path}, log)
    try:
        wait_until_serving(server, url, log)
        x = tabular(3, seed=11)
        np.testing.assert_array_equal(invoke(url, x), load_model(regressor_path).predict(x))
    finally:
        stop(server)


def test_serve_refuses_a_directory_that_is_not_an_exported_model(tmp_path):
    with pytest.raises(SystemExit, match=rf"'{tmp_path}': no hyperflax.json.*`path` must be"):
        main(["serve", str(tmp_path)])


def test_serve_refuses_a_port_out_of_range(regressor_path):
    with pytest.raises(SystemExit, match=r"port must be an int in \[1, 65535\], got 0"):
        main(["serve", str(regressor_path), "--port", "0"])
