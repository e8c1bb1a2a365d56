"""Exported ONNX graphs where products run: Node.js (onnxruntime-node) and a real browser
(onnxruntime-web's WASM build in headless Chromium, served from 127.0.0.1).

``make test`` installs the npm packages pinned in ``tests/export/runtimes`` (``npm ci``); the
tests are skipped, saying what to install, on a machine without Node.js or Chromium.
"""

import functools
import http.server
import json
import shutil
import subprocess
import threading
from typing import ClassVar

import numpy as np
import pytest
from export_models import CLASSES, MLP, N_FEATURES, tabular
from flax import nnx
from runtimes_paths import NODE_MODULES, RUNTIMES
from sklearn.preprocessing import StandardScaler

from hyperflax.export import export_model, load_model


def _need(tool: str, install: str) -> str:
    found = shutil.which(tool)
    if found is None:
        pytest.skip(f"no {tool}: {install}")
    if not (NODE_MODULES / "onnxruntime-node").is_dir():
        pytest.skip(f"no {NODE_MODULES}: cd {RUNTIMES} && npm ci --ignore-scripts (make test does)")
    return found


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    train = tabular(64, seed=1) * 3 - 1
    path = export_model(
        MLP(N_FEATURES, len(CLASSES), rngs=nnx.Rngs(4)), tmp_path_factory.mktemp("rt") / "m",
        example_input=train[:4], preprocessing=StandardScaler().fit(train),
        class_labels=CLASSES, formats=("jax", "onnx"),
    )  # fmt: skip
    x = tabular(9, seed=8) * 3 - 1
    (path.parent / "input.json").write_text(
        json.dumps({"shape": list(x.shape), "data": x.ravel().tolist()})
    )
    return path, x, load_model(path).outputs(x)


def _agree(stdout: str, want: np.ndarray) -> None:
    result = json.loads(stdout)
    assert "error" not in result, result
    got = np.asarray(result["data"], np.float32).reshape(result["dims"])
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_onnxruntime_node_agrees_with_the_jax_program(exported):
    node = _need("node", "apt install nodejs npm")
    path, _, want = exported
    run = subprocess.run(
        [node, str(RUNTIMES / "run_node.js"), str(path / "model.onnx"),
         str(path.parent / "input.json")],
        capture_output=True, text=True, timeout=120, check=True, cwd=RUNTIMES,
    )  # fmt: skip
    _agree(run.stdout, want)


def test_onnxruntime_web_in_headless_chromium_agrees_with_the_jax_program(exported, tmp_path):
    node = _need("node", "apt install nodejs npm")
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("no Debian chromium: apt install chromium")
    path, _, want = exported
    site = tmp_path / "site"
    site.mkdir()
    dist = NODE_MODULES / "onnxruntime-web" / "dist"
    shutil.copy(dist / "ort.wasm.min.js", site / "ort.min.js")  # the WASM-only build
    for name in ("ort-wasm-simd-threaded.wasm", "ort-wasm-simd-threaded.mjs"):
        shutil.copy(dist / name, site / name)
    shutil.copy(RUNTIMES / "index.html", site / "index.html")
    shutil.copy(path / "model.onnx", site / "model.onnx")
    shutil.copy(path.parent / "input.json", site / "input.json")
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/index.html"
        run = subprocess.run(
            [node, str(RUNTIMES / "run_browser.js"), url, chromium],
            capture_output=True, text=True, timeout=120, check=True, cwd=RUNTIMES,
        )  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    _agree(run.stdout, want)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map: ClassVar[dict[str, str]] = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".wasm": "application/wasm", ".mjs": "text/javascript",
    }  # fmt: skip

    def log_message(self, format: str, *args: object) -> None:
        """Requests are not logged."""
