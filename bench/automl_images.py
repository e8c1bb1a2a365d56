"""AutoML for images: test accuracy against the time budget, beside a hand-tuned CNN.

Tasks: scikit-learn's digits (8x8, 1,347 train / 450 test images, a stratified 75/25 split)
and ``hyperflax.testing.make_shapes`` (32x32x3, 1,000 train / 500 test images; four shapes on
random colors and textures, which a linear model on the pixels cannot tell apart). For each
budget, ``hx.automl.ImageClassifier(time_limit=budget, presets="fast")`` runs beside a
hand-tuned baseline: one plain ``hx.models.ConvNet`` (width 16, depth 1), AdamW 2e-3, batch
64, trained epoch after epoch until the next epoch would pass the same budget (its compile
included). Every run is its own process, one after the other, reading the task from one
``.npz`` file. AutoKeras 3 runs in its own environment (``--autokeras-python``, never a project
dependency): AutoKeras 3.0.0 builds no model with Keras 3.15 (``Dense(units=numpy.int64)``
is refused) and the Keras that accepts it (3.8) does not run on JAX 0.10, so it is Keras 3.8
on PyTorch's CPU backend: ``python3.11 -m venv V && V/bin/pip install torch==2.13.0
keras==3.8.0 keras-tuner==1.4.8 autokeras==3.0.0 dm-tree six``. It gets ``max_trials=1`` and a
callback that stops training once the budget has passed (AutoKeras has no time limit), with
a 20% validation split of its training images.
Run: ``.venv/bin/python -m bench.automl_images [--budgets 30 60 180] [--tasks digits shapes]
[--autokeras-python V/bin/python]``.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time


def write_task(task: str, path: str) -> None:
    """Write ``task``'s train and test images and labels to ``path`` (``.npz``)."""
    import numpy as np

    if task == "digits":
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        d = load_digits()
        x, xt, y, yt = train_test_split(d.images, d.target, test_size=0.25, random_state=0,
                                        stratify=d.target)  # fmt: skip
    else:
        from hyperflax.testing import make_shapes

        x, y = make_shapes(1000, seed=0)
        xt, yt = make_shapes(500, seed=1)
    np.savez(path, x=x, xt=xt, y=y, yt=yt)


def _data(path: str) -> tuple:
    import numpy as np

    with np.load(path) as data:
        return data["x"], data["xt"], data["y"], data["yt"]


def _hyperflax(path: str, budget: float) -> dict:
    import hyperflax as hx

    x, xt, y, yt = _data(path)
    clf = hx.automl.ImageClassifier(time_limit=budget, presets="fast", seed=0).fit(x, y)
    return {"accuracy": clf.score(xt, yt), "trials": len(clf.leaderboard())}


def _baseline(path: str, budget: float) -> dict:
    import jax
    import numpy as np
    import optax
    from flax import nnx

    import hyperflax as hx
    from hyperflax.automl._images import image_batch_size
    from hyperflax.automl._networks import DeadlineStop

    start = time.monotonic()
    x, xt, y, yt = _data(path)
    x = x.reshape(*x.shape[:3], -1).astype(np.float32)
    xt = xt.reshape(*xt.shape[:3], -1).astype(np.float32)
    mean, std = x.mean(axis=(0, 1, 2)), x.std(axis=(0, 1, 2)) + 1e-6
    x, xt = (x - mean) / std, (xt - mean) / std
    net = hx.models.ConvNet(x.shape[3], int(y.max()) + 1, block="plain", width=16, depth=1,
                            stages=2 if x.shape[1] <= 8 else 3, rngs=nnx.Rngs(0))  # fmt: skip
    trainer = hx.trainers.Trainer(net, optax.adamw(2e-3), "cross_entropy",
                                  devices=jax.local_devices()[:1])  # fmt: skip
    history = trainer.fit(x, y, epochs=1000, batch_size=image_batch_size(len(x)),
                          callbacks=[DeadlineStop(start + budget - 1.0)])  # fmt: skip
    predictions = trainer.predict(xt, batch_size=50).argmax(axis=1)
    return {"accuracy": float((predictions == yt).mean()), "epochs": len(history.epochs)}


AUTOKERAS = """
import json, sys, time
import numpy as np, keras, autokeras as ak
start, budget = time.monotonic(), float(sys.argv[2])
with np.load(sys.argv[1]) as data:
    x, xt, y, yt = (data[k] for k in ("x", "xt", "y", "yt"))
x, xt = x.reshape(*x.shape[:3], -1), xt.reshape(*xt.shape[:3], -1)

class Budget(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        self.model.stop_training = time.monotonic() - start > budget

# A validation split of our own and an EarlyStopping of AutoKeras' own settings: otherwise
# AutoKeras 3.0.0 trains the best model again, and that final fit nests the callbacks list
# (copy.deepcopy(callbacks) once per callback) and fails on any user callback.
val = np.random.default_rng(0).permutation(len(x)) < 0.2 * len(x)
clf = ak.ImageClassifier(max_trials=1, overwrite=True, seed=0, directory="ak_project")
stop = keras.callbacks.EarlyStopping(patience=10, min_delta=1e-4)
clf.fit(x[~val], y[~val], validation_data=(x[val], y[val]), epochs=1000,
        callbacks=[stop, Budget()], verbose=0)
accuracy = float((clf.predict(xt, verbose=0).astype(int).ravel() == yt).mean())
print(json.dumps({"accuracy": accuracy, "wall": time.monotonic() - start}))
"""


SYSTEMS = {"hyperflax": _hyperflax, "hand-tuned CNN": _baseline}


def _run(system: str, task: str, path: str, budget: float, autokeras: str | None) -> dict:
    if system == "AutoKeras 3":
        if autokeras is None:
            return {"system": system, "task": task, "budget": budget,
                    "error": "no --autokeras-python"}  # fmt: skip
        command = [autokeras, "-c", AUTOKERAS, path, str(budget)]
        env = {**os.environ, "KERAS_BACKEND": "torch"}
    else:
        code = (
            "import json, sys, time; from bench.automl_images import SYSTEMS; "
            "t = time.monotonic(); r = SYSTEMS[sys.argv[1]](sys.argv[2], float(sys.argv[3])); "
            "r['wall'] = time.monotonic() - t; print(json.dumps(r))"
        )
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]),
        }
        command = [sys.executable, "-c", code, system, path, str(budget)]
    with tempfile.TemporaryDirectory() as folder:
        done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=folder,
                              env=env)  # fmt: skip
    if done.returncode:
        return {"system": system, "task": task, "budget": budget,
                "error": done.stderr.strip().splitlines()[-1]}  # fmt: skip
    return {"system": system, "task": task, "budget": budget,
            **json.loads(done.stdout.strip().splitlines()[-1])}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--budgets", type=float, nargs="+", default=[30, 60, 180])
    parser.add_argument("--tasks", nargs="+", default=["digits", "shapes"])
    parser.add_argument("--systems", nargs="+", default=[*SYSTEMS, "AutoKeras 3"])
    parser.add_argument("--autokeras-python", help="the Python of an AutoKeras environment")
    parser.add_argument("--results", help="write the rows as JSON here")
    args = parser.parse_args()
    print(f"# {platform.processor() or platform.machine()}, Python {platform.python_version()}")
    print("| task | budget (s) | system | test accuracy | wall (s) | notes |")
    print("|---|---|---|---|---|---|")
    rows = []
    folder = tempfile.mkdtemp(prefix="hx_bench_images_")
    for task in args.tasks:
        path = os.path.join(folder, f"{task}.npz")
        write_task(task, path)
        for budget in args.budgets:
            for system in args.systems:
                row = _run(system, task, path, budget, args.autokeras_python)
                rows.append(row)
                notes = row.get("error") or (
                    f"{row['trials']} trials" if "trials" in row else
                    f"{row['epochs']} epochs" if "epochs" in row else ""
                )  # fmt: skip
                accuracy = f"{row['accuracy']:.3f}" if "accuracy" in row else "-"
                wall = f"{row['wall']:.1f}" if "wall" in row else "-"
                print(f"| {task} | {budget:g} | {system} | {accuracy} | {wall} | {notes} |",
                      flush=True)  # fmt: skip
    if args.results:
        with open(args.results, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
