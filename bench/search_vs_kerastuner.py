"""The same random search in hyperflax and in KerasTuner (Keras 3, JAX backend), side by side.

Digits MLP: units 32-256 (log), layers 1-3, dropout 0-0.5, Adam lr 1e-4-1e-2 (log);
10 trials x 10 epochs, batch 64. The hyperflax side is written exactly as DESIGN.md shows it,
with no capacity hint (``max_width``/``max_depth``); its compilations are counted. Goal: >= 5x
less search wall time, best validation accuracy within 1 point.
Run: ``.venv/bin/python -m bench.search_vs_kerastuner`` (needs the bench extra).
"""

import os
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "jax")


import hyperflax as hx
from bench._digits import design_hypermodel, digits_split
from hyperflax.trainers import CompilationCounter

TRIALS, EPOCHS, BATCH = 10, 10, 64


def hyperflax_search(data, directory, tracker):
    x_train, x_val, y_train, y_val = data

    tuner = hx.tuners.RandomSearch(
        design_hypermodel(),
        objective="val_accuracy",
        max_trials=TRIALS,
        seed=0,
        directory=directory,
        tracker=tracker,
        verbose=0,
    )
    start = time.perf_counter()
    with CompilationCounter() as counter:
        tuner.search(
            x_train, y_train, validation_data=(x_val, y_val), epochs=EPOCHS, batch_size=BATCH
        )
    seconds = time.perf_counter() - start
    return seconds, tuner.get_best_trials(1)[0].value, counter.count


def kerastuner_search(data, directory):
    import keras
    import keras_tuner as kt

    x_train, x_val, y_train, y_val = data

    def build(hp):
        model = keras.Sequential([keras.Input((64,))])
        units = hp.Int("units", 32, 256, sampling="log")
        for _ in range(hp.Int("layers", 1, 3)):
            model.add(keras.layers.Dense(units, activation="relu"))
            model.add(keras.layers.Dropout(hp.Float("dropout", 0.0, 0.5)))
        model.add(keras.layers.Dense(10))
        model.compile(
            optimizer=keras.optimizers.Adam(hp.Float("lr", 1e-4, 1e-2, sampling="log")),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        return model

    tuner = kt.RandomSearch(
        build, objective="val_accuracy", max_trials=TRIALS, seed=0, directory=directory
    )
    start = time.perf_counter()
    tuner.search(
        x_train,
        y_train,
        validation_data=(x_val, y_val),
        epochs=EPOCHS,
        batch_size=BATCH,
        verbose=0,
    )
    best = tuner.oracle.get_best_trials(1)[0].score
    return time.perf_counter() - start, best


def main() -> dict[str, float]:
    data = digits_split()
    with tempfile.TemporaryDirectory() as tmp:
        # Like for like first (KerasTuner tracks nothing), then with MLflow tracking and export.
        hx_s, hx_acc, compiles = hyperflax_search(data, os.path.join(tmp, "hx"), None)
        tracked_s, _, _ = hyperflax_search(data, os.path.join(tmp, "hx_mlflow"), "mlflow")
        kt_s, kt_acc = kerastuner_search(data, os.path.join(tmp, "kt"))
    print(f"random search, digits MLP, {TRIALS} trials x {EPOCHS} epochs, batch {BATCH}")
    print(
        f"  hyperflax             {hx_s:7.2f} s   best val_accuracy {hx_acc:.4f}   "
        f"({compiles} XLA compilations for the whole search)"
    )
    print(
        f"  hyperflax + MLflow    {tracked_s:7.2f} s   (every trial tracked, best model exported)"
    )
    print(f"  KerasTuner            {kt_s:7.2f} s   best val_accuracy {kt_acc:.4f}")
    gap = 100 * (hx_acc - kt_acc)
    print(
        f"  speed-up {kt_s / hx_s:.1f}x (goal >= 5x), {kt_s / tracked_s:.1f}x with MLflow; "
        f"accuracy gap {gap:+.2f} points"
    )
    return {"hyperflax_s": hx_s, "kerastuner_s": kt_s, "speedup": kt_s / hx_s}


if __name__ == "__main__":
    main()
