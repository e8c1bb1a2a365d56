import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def four_device_results() -> dict:
    script = Path(__file__).with_name("_multi_device_run.py")
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    done = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("strategy", ["shard_map", "pmap"])
def test_four_devices_match_one_device(four_device_results, strategy):
    assert four_device_results["n_devices"] == 4
    diff = four_device_results["diff"][strategy]
    assert diff["history"] < 1e-4
    assert diff["params"] < 1e-4


def test_batch_size_must_divide_over_devices(four_device_results):
    message = four_device_results["error"]
    assert "batch_size" in message and "4" in message and "30" in message
