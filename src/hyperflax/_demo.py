"""The demo: tune an MLP on scikit-learn's digits with Hyperband, report held-out accuracy.

The model reported is the average of the predicted probabilities of the best few trials' models
(already trained, so it costs no training): ranking by one 287-row validation split is noisy,
and which single trial comes out first changes with the CPU's floating-point path. Measured over
seeds 0-9 on one machine: the best single model's held-out accuracy 0.961-0.978 (mean 0.972), the
best five averaged 0.969-0.981 (mean 0.976).
"""

from __future__ import annotations

import time

import jax
import numpy as np
import optax
from flax import nnx
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from hyperflax import HyperModel, models, tuners
from hyperflax.search_spaces import HyperParameters

ENSEMBLE_SIZE = 5


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


def digits_search(directory: str, max_epochs: int, seed: int = 0) -> float:
    """Run the demo search; print the results table and the held-out accuracy of the best models."""
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
        seed=seed,
    )
    start = time.perf_counter()
    tuner.search(x_train, y_train, validation_split=0.2, batch_size=64)
    seconds = time.perf_counter() - start
    tuner.results_summary(ENSEMBLE_SIZE)
    best = tuner.get_best_models(ENSEMBLE_SIZE)
    probabilities = np.mean([jax.nn.softmax(model(x_test)) for model in best], axis=0)
    accuracy = float(np.mean(probabilities.argmax(-1) == y_test))
    print(
        f"searched {len(tuner.study.trials)} trials in {seconds:.1f} s; "
        f"the best {len(best)} models' averaged probabilities, held-out test accuracy: "
        f"{accuracy:.4f}; study in {tuner.project_dir}"
    )
    return accuracy


def table_automl(directory: str, seed: int = 0, time_limit: float = 30.0) -> float:
    """Fit AutoML on scikit-learn's breast-cancer table; print the leaderboard and test scores."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.metrics import log_loss

    from hyperflax.automl import TabularClassifier

    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.25, random_state=0, stratify=y
    )
    start = time.perf_counter()
    clf = TabularClassifier(
        time_limit=time_limit,
        seed=seed,
        directory=directory,
        project_name="breast_cancer",
        verbose=1,
    ).fit(x_train, y_train)
    seconds = time.perf_counter() - start
    board = clf.leaderboard()
    print(board[["model", "validation_score", "fit_time", "ensemble_weight"]].head(8).to_string())
    accuracy = float(clf.score(x_test, y_test))
    loss = log_loss(y_test, clf.predict_proba(x_test))
    print(
        f"AutoML fit {len(board)} candidate models in {seconds:.1f} s "
        f"(time_limit {time_limit:g} s); ensemble of {int((board.ensemble_weight > 0).sum())}, "
        f"held-out test accuracy: {accuracy:.4f}; log loss {loss:.4f}"
    )
    return accuracy
