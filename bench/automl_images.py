"""AutoML for images: test accuracy against the time budget, beside a hand-tuned CNN.

Tasks: scikit-learn's digits (8x8, 1,347 train / 450 test images, a stratified 75/25 split)
and ``hyperflax.testing.make_shapes`` (32x32x3, 1,000 train / 500 test images; four shapes on
random colors and textures, which a linear model on the pixels cannot tell apart). For each
budget, ``hx.automl.ImageClassifier(time_limit=budget, presets="fast")`` runs beside a
hand-tuned baseline: one plain ``hx.models.ConvNet`` (width 16, depth 1), AdamW 2e-3, batch
64, trained epoch after epoch until the next epoch would pass the same budget (its compile
included). Every run is its own process, one after the other. AutoKeras 3 is run when it is
importable in this environment (``pip install autokeras``; never a project dependency) with
``max_trials=3`` and the epochs that fit; otherwise its rows say "not installed".
Run: ``.venv/bin/python -m bench.automl_images [--budgets 30 60 180] [--tasks digits shapes]``.
"""

import argparse
import importlib.util
import json
import platform
import subprocess
import sys
import time


def _data(task: str) -> tuple:
    import numpy as np

    if task == "digits":
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        d = load_digits()
        return tuple(train_test_split(d.images, d.target, test_size=0.25, random_state=0,
                                      stratify=d.target))  # fmt: skip
    from hyperflax.testing import make_shapes

    x, y = make_shapes(1000, seed=0)
    xt, yt = make_shapes(500, seed=1)
    return x, xt, np.asarray(y), np.asarray(yt)


def _hyperflax(task: str, budget: float) -> dict:
    import hyperflax as hx

    x, xt, y, yt = _data(task)
    clf = hx.automl.ImageClassifier(time_limit=budget, presets="fast", seed=0).fit(x, y)
    board = clf.leaderboard()
    return {"accuracy": clf.score(xt, yt), "trials": len(board)}


def _baseline(task: str, budget: float) -> dict:
    import jax
    import numpy as np
    import optax
    from flax import nnx

    import hyperflax as hx
    from hyperflax.automl._networks import DeadlineStop

    start = time.monotonic()
    x, xt, y, yt = _data(task)
    x = x.reshape(*x.shape[:3], -1).astype(np.float32)
    xt = xt.reshape(*xt.shape[:3], -1).astype(np.float32)
    mean, std = x.mean(axis=(0, 1, 2)), x.std(axis=(0, 1, 2)) + 1e-6
    x, xt = (x - mean) / std, (xt - mean) / std
    stages = 2 if x.shape[1] <= 8 else 3
    net = hx.models.ConvNet(x.shape[3], 10 if task == "digits" else 4, block="plain", width=16,
                            depth=1, stages=stages, rngs=nnx.Rngs(0))  # fmt: skip
    trainer = hx.trainers.Trainer(net, optax.adamw(2e-3), "cross_entropy",
                                  devices=jax.local_devices()[:1])  # fmt: skip
    history = trainer.fit(x, y, epochs=1000, batch_size=64,
                          callbacks=[DeadlineStop(start + budget - 1.0)])  # fmt: skip
    predictions = trainer.predict(xt, batch_size=50).argmax(axis=1)
    return {"accuracy": float((predictions == yt).mean()), "epochs": len(history.epochs)}


def _autokeras(task: str, budget: float) -> dict:
    import autokeras as ak  # only when installed for this benchmark

    x, xt, y, yt = _data(task)
    x = x.reshape(*x.shape[:3], -1)
    xt = xt.reshape(*xt.shape[:3], -1)
    clf = ak.ImageClassifier(max_trials=3, overwrite=True, seed=0)
    clf.fit(x, y, epochs=max(1, int(budget // 15)), verbose=0)
    return {"accuracy": float((clf.predict(xt).astype(int).ravel() == yt).mean())}


SYSTEMS = {"hyperflax": _hyperflax, "hand-tuned CNN": _baseline, "AutoKeras 3": _autokeras}


def _run(system: str, task: str, budget: float) -> dict:
    if system == "AutoKeras 3" and importlib.util.find_spec("autokeras") is None:
        return {"system": system, "task": task, "budget": budget, "error": "not installed"}
    code = (
        "import json, sys, time; from bench.automl_images import SYSTEMS; "
        "t = time.monotonic(); r = SYSTEMS[sys.argv[1]](sys.argv[2], float(sys.argv[3])); "
        "r['wall'] = time.monotonic() - t; print(json.dumps(r))"
    )
    done = subprocess.run([sys.executable, "-c", code, system, task, str(budget)],
                          capture_output=True, text=True, check=False)  # fmt: skip
    if done.returncode:
        return {"system": system, "task": task, "budget": budget,
                "error": done.stderr.strip().splitlines()[-1]}  # fmt: skip
    return {"system": system, "task": task, "budget": budget,
            **json.loads(done.stdout.strip().splitlines()[-1])}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--budgets", type=float, nargs="+", default=[30, 60, 180])
    parser.add_argument("--tasks", nargs="+", default=["digits", "shapes"])
    parser.add_argument("--systems", nargs="+", default=list(SYSTEMS))
    parser.add_argument("--results", help="write the rows as JSON here")
    args = parser.parse_args()
    print(f"# {platform.processor() or platform.machine()}, Python {platform.python_version()}")
    print("| task | budget (s) | system | test accuracy | wall (s) | notes |")
    print("|---|---|---|---|---|---|")
    rows = []
    for task in args.tasks:
        for budget in args.budgets:
            for system in args.systems:
                row = _run(system, task, budget)
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
