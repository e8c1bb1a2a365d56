"""One trial trained over 2 processes x 2 CPU devices (``jax.distributed``, gloo collectives)
matches the same training in one process with 4 devices."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import jax._src.lib
import numpy as np
import pytest

from tests.trainers._multi_device_run import max_relative_difference

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 300
RTOL = 1e-5  # measured: histories equal, parameters 9e-8 apart

pytestmark = pytest.mark.skipif(  # jaxlib has no public check (JAX 0.10)
    not hasattr(getattr(jax._src.lib, "_jax", None), "make_gloo_tcp_collectives"),
    reason="this jaxlib has no gloo CPU collectives, so CPU processes cannot share a mesh",
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(out: Path, local_devices: int, *cluster: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "JAX_PLATFORMS": "cpu",
        "XLA_FLAGS": f"--xla_force_host_platform_device_count={local_devices}",
    }
    command = [sys.executable, "-m", "tests.trainers._distributed_run", str(out), *cluster]
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> list[dict]:
    """Results of process 0 and 1 of the 2-process run, then of the 1-process reference."""
    folder = tmp_path_factory.mktemp("distributed")
    outs = [folder / name for name in ("process_0.json", "process_1.json", "reference.json")]
    coordinator = f"127.0.0.1:{_free_port()}"
    processes = [_start(outs[i], 2, coordinator, str(i), "2") for i in range(2)]
    processes.append(_start(outs[2], 4))
    deadline = time.monotonic() + TIMEOUT_S
    try:
        for process in processes:
            output, _ = process.communicate(timeout=max(1.0, deadline - time.monotonic()))
            assert process.returncode == 0, output[-3000:]
    finally:
        for process in processes:
            process.kill()
    return [json.loads(out.read_text()) for out in outs]


def _curves(result: dict) -> list[np.ndarray]:
    return [np.asarray(values) for _, values in sorted(result["history"].items())]


def test_the_mesh_spans_both_processes(runs):
    assert [(r["process_count"], r["n_devices"]) for r in runs] == [(2, 4), (2, 4), (1, 4)]


def test_both_processes_agree_exactly(runs):
    first, second, _ = runs
    assert first["history"] == second["history"]
    assert first["params"] == second["params"]


def test_two_processes_match_one_process(runs):
    first, _, reference = runs
    assert sorted(first["history"]) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert max_relative_difference(_curves(first), _curves(reference)) < RTOL
    assert max_relative_difference([first["params"]], [reference["params"]]) < RTOL


def test_pmap_is_refused_with_the_fix(runs):
    assert "strategy='shard_map'" in runs[0]["pmap_error"]


def test_data_that_differs_between_processes_is_refused(runs):
    for result in runs[:2]:
        assert "differs" in result["data_error"] and "same full data" in result["data_error"]
