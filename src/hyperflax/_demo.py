"""The demo: tune an MLP on scikit-learn's digits with Hyperband, report held-out accuracy."""

from __future__ import annotations

import time

import numpy as np
import optax
from flax import nnx
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from hyperflax import models, tuners
from hyperflax.search_spaces import HyperParameters
from hyperflax.tuners._hypermodel import HyperModel


def build_mlp(hp: HyperParameters, rngs: nnx.Rngs) -> nnx.Module:
    """An MLP whose width, depth and dropout are tuned; one compiled program serves them all."""
    return models.MLP(
        64,
        10,
        hidden=[hp.Int("units", 32, 256, log=True)] * hp.Int("layers", 1, 3),
        dropout=hp.Float("dropout", 0.0, 0.5),
        max_width=256,
        max_depth=3,
        rngs=rngs,
    )


def adamw(hp: HyperParameters) -> optax.GradientTransformation:
    """AdamW with learning rate and weight decay injected as data."""
    return optax.inject_hyperparams(optax.adamw)(
        learning_rate=hp.Float("lr", 1e-4, 1e-2, log=True),
        weight_decay=hp.Float("wd", 1e-6, 1e-2, log=True),
    )


def digits_search(directory: str, max_epochs: int) -> float:
    """Run the demo search and print the results table and the test accuracy."""
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.2, random_state=0, stratify=y
    )
    hypermodel = HyperModel(build_mlp, optimizer=adamw, loss="cross_entropy", metrics=["accuracy"])
    tuner = tuners.Hyperband(
        hypermodel,
        objective="val_loss",  # smoother than accuracy, whose ties make selection noisy
        max_epochs=max_epochs,
        directory=directory,
        project_name="digits",
        overwrite=True,
        seed=0,
    )
    start = time.perf_counter()
    tuner.search(x_train, y_train, validation_split=0.2, batch_size=64)
    seconds = time.perf_counter() - start
    tuner.results_summary(5)
    model = tuner.get_best_models(1)[0]
    accuracy = float(np.mean(np.asarray(model(x_test)).argmax(-1) == y_test))
    print(
        f"searched {len(tuner.study.trials)} trials in {seconds:.1f} s; "
        f"best model's held-out test accuracy: {accuracy:.4f}; study in {tuner.project_dir}"
    )
    return accuracy
