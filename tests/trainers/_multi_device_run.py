"""Run by test_strategies.py in a subprocess with 4 forced CPU devices; prints JSON results.

The caller sets ``XLA_FLAGS=--xla_force_host_platform_device_count=4`` in the subprocess's
environment (this module must not touch ``os.environ``: pytest imports it for doctests).
"""

import json

import jax
import numpy as np
import optax
from flax import nnx
from sklearn.datasets import load_digits

from hyperflax.models import MLP
from hyperflax.trainers import Trainer


def train(x, y, devices, strategy):
    model = MLP(64, 10, [32], rngs=nnx.Rngs(0))
    # SGD: Adam's normalization would amplify float noise in near-zero gradients.
    optimizer = optax.inject_hyperparams(optax.sgd)(learning_rate=0.1, momentum=0.9)
    trainer = Trainer(
        model, optimizer, "cross_entropy", ["accuracy"], devices=devices, strategy=strategy
    )
    history = trainer.fit(
        x[:192], y[:192], validation_data=(x[192:], y[192:]), epochs=3, batch_size=32
    )
    params = [np.asarray(leaf) for leaf in jax.tree.leaves(nnx.state(model, nnx.Param))]
    return trainer, history.history, params


def max_relative_difference(a, b):
    a, b = np.concatenate([np.ravel(v) for v in a]), np.concatenate([np.ravel(v) for v in b])
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def digits():
    """250 digits samples: features in [0, 1] as float32, labels int32."""
    data = load_digits()
    return (data.data[:250] / 16.0).astype(np.float32), data.target[:250].astype(np.int32)


def main():
    x, y = digits()
    devices = jax.devices()
    if len(devices) != 4:
        raise SystemExit(f"expected 4 forced CPU devices, got {len(devices)}; set XLA_FLAGS")
    _, one_history, one_params = train(x, y, devices[:1], "shard_map")
    results = {"n_devices": len(devices), "diff": {}}
    for strategy in ("shard_map", "pmap"):
        trainer, history, params = train(x, y, devices, strategy)
        keys = ["loss", "accuracy", "val_loss", "val_accuracy"]
        results["diff"][strategy] = {
            "history": max_relative_difference(
                [history[k] for k in keys], [one_history[k] for k in keys]
            ),
            "params": max_relative_difference(params, one_params),
        }
    try:
        trainer.fit(x, y, epochs=1, batch_size=30)
    except ValueError as error:
        results["error"] = str(error)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
