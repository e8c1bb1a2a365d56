"""What live progress costs: the same search with ``verbose=0`` and ``verbose=1``, side by side.

A cheap plain function (a few milliseconds per trial, so the search is dominated by the study
and progress is as large a share as it gets), 100 trials each way, alternating runs in one
process; prints seconds per search and the overhead of progress in percent (goal: < 1%). Run:
``.venv/bin/python -m bench.progress_overhead``.
"""

import contextlib
import io
import statistics
import tempfile
import time

import hyperflax as hx

TRIALS, ROUNDS = 100, 3


def objective(hp: hx.HyperParameters) -> float:
    x = hp.Float("x", -5.0, 5.0)
    units = hp.Int("units", 8, 256, log=True)
    for step in range(5):
        hp.report((x - 1.0) ** 2 + 1.0 / (step + 1) + units * 1e-4, step=step)
    return (x - 1.0) ** 2


def _search(verbose: int) -> float:
    with tempfile.TemporaryDirectory() as directory, contextlib.redirect_stdout(io.StringIO()):
        tuner = hx.tuners.RandomSearch(
            objective, objective=hx.Objective("loss", "min"), max_trials=TRIALS, seed=0,
            directory=directory, tracker=None, verbose=verbose,
        )  # fmt: skip
        start = time.perf_counter()
        tuner.search()
        return time.perf_counter() - start


def main() -> None:
    quiet, shown = [], []
    for _ in range(ROUNDS):
        quiet.append(_search(0))
        shown.append(_search(1))
    q, s = statistics.median(quiet), statistics.median(shown)
    print(f"{TRIALS} trials, median of {ROUNDS}: verbose=0 {q:.2f} s, verbose=1 {s:.2f} s")
    print(f"progress overhead: {100 * (s - q) / q:+.1f}% (goal < 1%)")


if __name__ == "__main__":
    main()
