"""Compiling the next trial while the current one trains: a user model whose shapes change.

A model written with plain ``flax.nnx`` layers (``units`` 16-256 log, ``layers`` 1-3, Adam
lr), so every configuration compiles programs of its own; RandomSearch, ``--trials`` trials
on digits, batch 64, tracker=None, for each ``--epochs``. ``compile_ahead`` False, "auto" and
True each run in their own process on a fresh project (no compiled program cached), side by
side; reported: seconds, the ratio to False, how many trials compiled their own training
program (the rest were compiled ahead in a thread) and whether every trial got the same
validation accuracy as with False (RandomSearch samples the same configurations either way).
Run: ``.venv/bin/python -m bench.compile_ahead [--trials 10] [--epochs 3 30 100]``.
"""

import argparse
import itertools
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

MODES = {"False": False, "auto": "auto", "True": True}


def _one(mode: str, trials: int, epochs: int, directory: str) -> dict:
    import optax
    from flax import nnx

    import hyperflax as hx
    from bench._digits import digits_split
    from hyperflax.trainers import Callback, CompilationCounter

    def build(hp, rngs):
        units, layers = hp.Int("units", 16, 256, log=True), hp.Int("layers", 1, 3)
        widths = [64] + [int(units)] * int(layers)
        blocks = []
        for n_in, n_out in itertools.pairwise(widths):
            blocks += [nnx.Linear(n_in, n_out, rngs=rngs), nnx.relu]
        return nnx.Sequential(*blocks, nnx.Linear(widths[-1], 10, rngs=rngs))

    class OwnCompiles(Callback):
        def __init__(self) -> None:
            self.trials, self.counter = 0, CompilationCounter()

        def on_train_begin(self, trainer) -> None:
            self.counter.__enter__()

        def on_train_end(self, trainer) -> None:
            self.counter.__exit__(None, None, None)
            self.trials += any("_shard_map_train" in n for n in self.counter.names)

    hypermodel = hx.HyperModel(
        build, optimizer=lambda hp: optax.adam(hp.Float("lr", 1e-4, 1e-2, log=True)),
        metrics=["accuracy"],
    )  # fmt: skip
    x_train, x_val, y_train, y_val = digits_split()
    tuner = hx.tuners.RandomSearch(
        hypermodel, objective="val_accuracy", max_trials=trials, seed=0, directory=directory,
        tracker=None, verbose=0, compile_ahead=MODES[mode],
    )  # fmt: skip
    own = OwnCompiles()
    start = time.perf_counter()
    tuner.search(x_train, y_train, validation_data=(x_val, y_val), epochs=epochs, batch_size=64,
                 callbacks=[own])  # fmt: skip
    seconds = time.perf_counter() - start
    values = [t.value for t in tuner.study.get_trials()]
    return {"mode": mode, "epochs": epochs, "seconds": round(seconds, 2),
            "own_compiles": own.trials, "values": values}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--epochs", type=int, nargs="+", default=[3, 30, 100])
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--one", nargs=2, help=argparse.SUPPRESS)  # child: mode, epochs
    args = parser.parse_args()
    if args.one is not None:
        with tempfile.TemporaryDirectory() as directory:
            row = _one(args.one[0], args.trials, int(args.one[1]), directory)
        print(json.dumps(row))
        return
    rows = []
    for epochs in args.epochs:
        for mode in MODES:
            command = [sys.executable, "-m", "bench.compile_ahead", "--trials", str(args.trials),
                       "--one", mode, str(epochs)]  # fmt: skip
            done = subprocess.run(command, capture_output=True, text=True, check=True,
                                  env=os.environ)  # fmt: skip
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(f"compile_ahead ({platform.machine()}, {os.cpu_count()} CPU cores): a plain-nnx MLP "
          f"space on digits, RandomSearch, {args.trials} trials, batch 64, cold\n")  # fmt: skip
    print("| epochs | compile_ahead | seconds | vs False | trials that compiled their own "
          "training program | same val_accuracy as False |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for row in rows:
        base = next(r for r in rows if r["epochs"] == row["epochs"] and r["mode"] == "False")
        same = all(abs(a - b) <= 1e-6 for a, b in zip(row["values"], base["values"], strict=True))
        print(f"| {row['epochs']} | {row['mode']} | {row['seconds']} | "
              f"{base['seconds'] / row['seconds']:.2f}x | {row['own_compiles']} of "
              f"{args.trials} | {'yes' if same else 'no'} |")  # fmt: skip
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
