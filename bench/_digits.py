"""The digits data and search space shared by the search benchmarks."""

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


def digits_split(seed: int = 0):
    """Train and validation splits of scikit-learn's digits, scaled to [0, 1]."""
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    return train_test_split(x, y.astype(np.int32), test_size=0.2, random_state=seed, stratify=y)


def design_hypermodel():
    """DESIGN.md's digits search as a user writes it: no ``max_width``/``max_depth`` hint."""
    import optax

    import hyperflax as hx

    def build_model(hp, rngs):
        return hx.models.MLP(
            in_features=64,
            out_features=10,
            hidden=[hp.Int("units", 32, 256, log=True)] * hp.Int("layers", 1, 3),
            dropout=hp.Float("dropout", 0.0, 0.5),
            rngs=rngs,
        )

    return hx.HyperModel(
        build_model,
        optimizer=lambda hp: optax.inject_hyperparams(optax.adam)(
            learning_rate=hp.Float("lr", 1e-4, 1e-2, log=True)
        ),
        metrics=["accuracy"],
    )
