"""A HyperModel and its data, named by examples/digits_worker.yaml for `hyperflax worker`."""

import numpy as np
import optax
from flax import nnx
from sklearn.datasets import load_digits

import hyperflax as hx


def build(hp: hx.HyperParameters, rngs: nnx.Rngs) -> nnx.Module:
    return hx.models.MLP(
        in_features=64,
        out_features=10,
        hidden=[hp.Int("units", 32, 256, log=True)] * hp.Int("layers", 1, 3),
        dropout=hp.Float("dropout", 0.0, 0.5),
        rngs=rngs,
    )


hypermodel = hx.HyperModel(
    build,
    optimizer=lambda hp: optax.inject_hyperparams(optax.adam)(
        learning_rate=hp.Float("lr", 1e-4, 1e-2, log=True)
    ),
    loss="cross_entropy",
    metrics=["accuracy"],
)


def data() -> tuple[np.ndarray, np.ndarray]:
    """Every worker loads the same rows: the search holds out the last 20% for validation."""
    x, y = load_digits(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(x))
    return (x[order] / 16.0).astype(np.float32), y[order]
