"""AutoML network candidates one at a time or in populations, at the same time limit.

TabularClassifier on digits (1,797 rows, 10 classes) with the network families only (mlp,
realmlp, tabm) and ``population_size`` K = 1, 8, 16, each in its own process, same seed and
time limit: how many candidates finished and the test log loss and accuracy of the result.
Run: ``.venv/bin/python -m bench.automl_population [--time-limit 60] [--sizes 1 8 16]``.
"""

import argparse
import json
import subprocess
import sys
import time


def _one(size: int, time_limit: float) -> dict:
    import jax
    from sklearn.datasets import load_digits
    from sklearn.metrics import log_loss
    from sklearn.model_selection import train_test_split

    import hyperflax as hx

    x, y = load_digits(return_X_y=True, as_frame=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, random_state=0, stratify=y)
    clf = hx.automl.TabularClassifier(
        time_limit=time_limit, families=["mlp", "realmlp", "tabm"], seed=0,
        population_size=size, refit=False,
    )  # fmt: skip
    started = time.perf_counter()
    clf.fit(x_train, y_train)
    seconds = time.perf_counter() - started
    return {
        "size": size,
        "device": jax.devices()[0].device_kind,
        "candidates": len(clf.leaderboard()),
        "fit_seconds": round(seconds, 1),
        "test_log_loss": round(log_loss(y_test, clf.predict_proba(x_test)), 4),
        "test_accuracy": round(clf.score(x_test, y_test), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-limit", type=float, default=60)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 8, 16])
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(_one(args.one, args.time_limit)))
        return
    rows = []
    for size in args.sizes:
        command = [sys.executable, "-m", "bench.automl_population", "--one", str(size),
                   "--time-limit", str(args.time_limit)]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(f"AutoML network candidates on {rows[0]['device']}, digits, time_limit="
          f"{args.time_limit:g} s\n")  # fmt: skip
    print("| population_size | candidates finished | fit s | test log loss | test accuracy |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['size']} | {r['candidates']} | {r['fit_seconds']} | {r['test_log_loss']} "
              f"| {r['test_accuracy']} |")  # fmt: skip


if __name__ == "__main__":
    main()
