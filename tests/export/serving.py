"""Start, wait for, query and stop a model server on 127.0.0.1 in the export tests."""

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

SERVER_START_TIMEOUT_S = 120


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """Start a server in its own process group, logging to ``log``."""
    with log.open("wb") as log_file:
        return subprocess.Popen(
            command,
            cwd=log.parent,
            env=env | {"MLFLOW_MODELS_WORKERS": "1"},
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


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
    pytest.fail(f"the server did not answer /ping within {SERVER_START_TIMEOUT_S} s")


def post(url: str, body: str, content_type: str) -> tuple[int, dict]:
    """POST ``body`` to ``/invocations``; return the HTTP status and the JSON answer."""
    request = urllib.request.Request(
        f"{url}/invocations", data=body.encode(), headers={"Content-Type": content_type}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def invoke(url: str, x: np.ndarray) -> np.ndarray:
    """POST ``x`` as JSON to ``/invocations`` and return the predictions."""
    status, answer = post(url, json.dumps({"inputs": x.tolist()}), "application/json")
    assert status == 200, answer
    return np.array(answer["predictions"])


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
