"""Tune learning rate, weight decay and dropout of your own Flax NNX model, then ship it."""

import numpy as np
import optax
from flax import nnx
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import hyperflax as hx


class Net(nnx.Module):
    """Your architecture, unchanged; hyperflax only asks for its hyperparameters."""

    def __init__(self, dropout: float, rngs: nnx.Rngs):
        self.hidden = nnx.Linear(64, 128, rngs=rngs)
        self.dropout = hx.models.Dropout(dropout, rngs=rngs)  # rate as data: no recompiles
        self.out = nnx.Linear(128, 10, rngs=rngs)

    def __call__(self, x):
        return self.out(self.dropout(nnx.relu(self.hidden(x))))


def build(hp: hx.HyperParameters, rngs: nnx.Rngs) -> nnx.Module:
    return Net(hp.Float("dropout", 0.0, 0.5), rngs)


hypermodel = hx.HyperModel(
    build,
    optimizer=lambda hp: optax.inject_hyperparams(optax.adamw)(
        learning_rate=hp.Float("lr", 1e-4, 1e-2, log=True),
        weight_decay=hp.Float("wd", 1e-6, 1e-2, log=True),
    ),
    loss="cross_entropy",
    metrics=["accuracy"],
)

if __name__ == "__main__":
    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        (x / 16).astype(np.float32), y, test_size=0.2, random_state=0
    )
    tuner = hx.tuners.BayesianOptimization(
        hypermodel, objective="val_loss", max_trials=8, seed=0, project_name="own-model"
    )
    tuner.search(x_train, y_train, validation_split=0.2, epochs=10, batch_size=64)
    tuner.results_summary(3)
    path = tuner.export_best("exported/own-model", overwrite=True)
    predictor = hx.load_model(path)  # no model code needed, no pickle
    print("test accuracy", np.mean(predictor.predict(x_test) == y_test))
