"""Run by test_distributed.py: one process of a ``jax.distributed`` run, or the reference.

``python -m tests.trainers._distributed_run OUT.json [COORDINATOR PROCESS_ID NUM_PROCESSES]``
trains ``_multi_device_run.train``'s model with the Trainer over ``jax.devices()`` and writes
the per-epoch history and final parameters to ``OUT.json``. With a coordinator, the process first
joins the cluster and also records the errors for ``strategy="pmap"`` and for data that differs
between processes. The caller sets ``XLA_FLAGS`` and ``JAX_PLATFORMS`` in the environment.
"""

import json
import sys
from functools import partial
from pathlib import Path

import jax
import numpy as np

from hyperflax.trainers import Trainer

from ._multi_device_run import digits, train


def error_of(action):
    """The message of the ``ValueError`` that ``action()`` raises."""
    try:
        action()
    except ValueError as error:
        return str(error)
    raise AssertionError("expected a ValueError")


def main():
    out, *cluster = sys.argv[1:]
    if cluster:
        address, process_id, num_processes = cluster
        jax.distributed.initialize(address, int(num_processes), int(process_id))
    x, y = digits()
    trainer, history, params = train(x, y, jax.devices(), "shard_map")
    results = {
        "process_count": jax.process_count(),
        "n_devices": trainer.n_devices,
        "history": history,
        "params": np.concatenate([np.ravel(p) for p in params]).tolist(),
    }
    if cluster:
        pmap = partial(Trainer, trainer.model, trainer.optimizer, "mse", strategy="pmap")
        results["pmap_error"] = error_of(pmap)
        shifted = x + jax.process_index()
        results["data_error"] = error_of(partial(trainer.fit, shifted, y, epochs=1, batch_size=32))
    Path(out).write_text(json.dumps(results))


if __name__ == "__main__":
    main()
