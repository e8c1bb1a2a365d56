"""Vectorized trials: trials per minute for population_size K = 1, 4, 8, 16, side by side.

The digits MLP space of DESIGN.md (units 32-256 log, layers 1-3, dropout 0-0.5, Adam lr
1e-4-1e-2 log), RandomSearch, 10 epochs, batch 64, tracker=None. Each K runs in its own
process: a first search of ``--trials`` trials (compilation included, "cold"), then the same
number of further trials in the same process ("warm": every program compiled). Reports trials
per minute and the ratio to K=1 measured in the same run, plus the best validation accuracy.
``--scale N`` tiles the training rows N times (with a little noise) for heavier trials, where
an accelerator's per-step cost, not the per-trial bookkeeping, dominates.
Run: ``.venv/bin/python -m bench.population [--trials 32] [--sizes 1 4 8 16] [--scale 1]``.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

EPOCHS, BATCH = 10, 64


def _one(size: int, trials: int, scale: int, directory: str) -> dict:
    import jax
    import numpy as np

    import hyperflax as hx
    from bench._digits import design_hypermodel, digits_split
    from hyperflax.trainers import CompilationCounter

    x_train, x_val, y_train, y_val = digits_split()
    noise = np.random.default_rng(0).normal(0.0, 0.05, (scale, *x_train.shape))
    x_train = (x_train[None] + noise * (np.arange(scale) > 0)[:, None, None]).astype(np.float32)
    x_train, y_train = x_train.reshape(-1, 64), np.tile(y_train, scale)

    hypermodel = design_hypermodel()
    out: dict = {"size": size, "device": str(jax.devices()[0].device_kind)}
    for phase, total in (("cold", trials), ("warm", 2 * trials)):
        tuner = hx.tuners.RandomSearch(
            hypermodel, objective="val_accuracy", max_trials=total, seed=0, directory=directory,
            project_name=f"k{size}", tracker=None, verbose=0, population_size=size,
        )  # fmt: skip
        start = time.perf_counter()
        with CompilationCounter() as counter:
            tuner.search(x_train, y_train, validation_data=(x_val, y_val), epochs=EPOCHS,
                         batch_size=BATCH)  # fmt: skip
        seconds = time.perf_counter() - start
        out[phase] = {
            "seconds": round(seconds, 2),
            "trials_per_minute": round(60 * trials / seconds, 1),
            "compilations": counter.count,
        }
    out["best_val_accuracy"] = round(tuner.get_best_trials(1)[0].value, 4)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=32)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 4, 8, 16])
    parser.add_argument("--scale", type=int, default=1, help="tile the training rows N times")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # child process: one size
    args = parser.parse_args()
    if args.one is not None:
        with tempfile.TemporaryDirectory() as directory:
            print(json.dumps(_one(args.one, args.trials, args.scale, directory)))
        return
    rows = []
    for size in args.sizes:
        command = [sys.executable, "-m", "bench.population", "--one", str(size),
                   "--trials", str(args.trials), "--scale", str(args.scale)]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, check=True, env=os.environ)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    base = {phase: rows[0][phase]["trials_per_minute"] for phase in ("cold", "warm")}
    print(f"Vectorized trials on {rows[0]['device']} ({platform.machine()}, "
          f"{os.cpu_count()} CPU cores): digits MLP space, {args.trials} trials x {EPOCHS} "
          f"epochs, batch {BATCH}, training rows x{args.scale}\n")  # fmt: skip
    print("| population_size | trials/min, cold (vs K=1) | trials/min, warm (vs K=1) "
          "| compilations (cold) | best val_accuracy |")  # fmt: skip
    print("|---|---|---|---|---|")
    for row in rows:
        cold, warm = row["cold"], row["warm"]
        print(f"| {row['size']} | {cold['trials_per_minute']} "
              f"({cold['trials_per_minute'] / base['cold']:.2f}x) | {warm['trials_per_minute']} "
              f"({warm['trials_per_minute'] / base['warm']:.2f}x) | {cold['compilations']} | "
              f"{row['best_val_accuracy']} |")  # fmt: skip
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
