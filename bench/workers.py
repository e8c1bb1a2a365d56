"""Scale-out: trials per minute of 1, 2 and 4 workers sharing one study, with and without a kill.

RandomSearch over a fixed-cost plain function (each trial sleeps ``--trial-s``), so the ratio to
one worker shows what coordinating through the storage costs, not CPU contention. For each
storage (PostgreSQL on a throwaway server on 127.0.0.1, a journal file, a SQLite file) and each
worker count, the search runs once as is and once with one worker SIGKILLed mid-trial and a
fresh one started in its place (the workers and the kill handshake of
``tests/tuners/_workers.py``). Trials per minute count the complete trials over the span from
the first trial's start to the last trial's end (process start-up is left out; a restart
inside the span is not). Every study is audited: complete trials, configurations completed
twice, trials left running or queued, killed trials retried exactly once.

``--faults`` runs, instead, the whole tuner x storage matrix of ``tests/tuners/test_faults.py``
(two kills each) with the same assertion, and prints what each study holds.

Run: ``.venv/bin/python -m bench.workers [--trials 40] [--workers 1 2 4] [--faults]``. Output:
a Markdown table, printed and written to ``bench/results/workers.md`` (``workers.faults.md``
for ``--faults``), with the numbers in the ``.json`` beside it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.tuners._postgres import Server, start_server
from tests.tuners._workers import EXPECTED_COMPLETE, Workers, audit, fault_run, load_study
from tests.tuners._workers import storage_url as _storage_url

RESULTS = Path(__file__).parent / "results"
STORAGES = ("postgresql", "journal", "sqlite")


@contextmanager
def _storages(kinds: list[str]) -> Iterator[Server | None]:
    """A throwaway PostgreSQL server while the benchmark runs (``None`` if not needed)."""
    server = start_server() if "postgresql" in kinds else None
    try:
        yield server
    finally:
        if server is not None:
            server.destroy()


def storage_url(kind: str, directory: Path, server: Server | None) -> str:
    """A fresh storage of ``kind``: files in ``directory`` or a new database on ``server``."""

    def database() -> str:
        assert server is not None, "a postgresql storage needs the throwaway server"
        return server.create_database("hx_bench")

    return _storage_url(kind, directory, database)


def measure(
    kind: str, workers: int, kills: int, args: argparse.Namespace, server: Server | None
) -> dict:
    """One search of ``args.trials`` trials by ``workers`` workers, ``kills`` of them SIGKILLed."""
    with tempfile.TemporaryDirectory(prefix="hx-bench-workers-") as tmp:
        directory = Path(tmp)
        url = storage_url(kind, directory, server)
        with Workers(
            directory, "RandomSearch", url, workers, max_trials=args.trials,
            trial_s=args.trial_s, killable=True,
        ) as running:  # fmt: skip
            running.run(kills=kills, kill_window=(args.trials // 4, args.trials // 2))
        study = load_study(url)
        counts = audit(study, running.killed)
        trials = study.get_trials(deepcopy=False)
        span = max(t.datetime_complete for t in trials) - min(t.datetime_start for t in trials)
    return {
        "storage": kind, "workers": workers, "kills": kills, "span_s": span.total_seconds(),
        "trials_per_minute": 60 * counts.complete / span.total_seconds(),
        **dataclasses.asdict(counts),
    }  # fmt: skip


def throughput_table(rows: list[dict], args: argparse.Namespace) -> str:
    """The Markdown table of ``measure`` rows, with the ratio to one worker of the same kind."""
    base = {(r["storage"], r["kills"]): r["trials_per_minute"] for r in rows if r["workers"] == 1}
    lines = [
        f"## Workers sharing one study: RandomSearch, {args.trials} trials of "
        f"time.sleep({args.trial_s})\n",
        f"Machine: {machine()}. Ideal: {60 / args.trial_s:.0f} trials/min per worker. "
        f"Timings are noisy: the cores are shared with other work.\n",
        "| storage | workers | SIGKILL + restart | trials/min | vs 1 worker | complete "
        "| duplicates | running left | killed, retried once |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ratio = r["trials_per_minute"] / base[r["storage"], r["kills"]]
        lines.append(
            f"| {r['storage']} | {r['workers']} | {'yes' if r['kills'] else 'no'} | "
            f"{r['trials_per_minute']:.0f} | {ratio:.2f}x | {r['complete']} | {r['duplicates']} "
            f"| {r['left_running']} | {r['killed']}, {r['retried']} |"
        )
    return "\n".join(lines) + "\n"


def faults(args: argparse.Namespace, server: Server | None) -> tuple[list[dict], str]:
    """The kill matrix of ``tests/tuners/test_faults.py``: rows and their Markdown table."""
    rows: list[dict] = []
    lines = [
        "## Workers SIGKILLed mid-trial: every tuner on every storage\n",
        f"Machine: {machine()}. Three workers, two of them SIGKILLed inside a trial on a seeded "
        f"schedule and restarted; the study must hold the whole search exactly once.\n",
        "| tuner | storage | complete (expected) | duplicates | running left | failed "
        "| killed | retried once | holds | seconds |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for tuner in EXPECTED_COMPLETE:
        for kind in args.storages:
            with tempfile.TemporaryDirectory(prefix="hx-bench-faults-") as tmp:
                directory, start = Path(tmp), time.perf_counter()
                url = storage_url(kind, directory, server)
                found, expected = fault_run(directory, tuner, url, kills=2, seed=len(tuner))
                seconds = time.perf_counter() - start
            rows.append({"tuner": tuner, "storage": kind, "seconds": seconds,
                         "holds": found == expected, **dataclasses.asdict(found)})  # fmt: skip
            lines.append(
                f"| {tuner} | {kind} | {found.complete} ({expected.complete}) | "
                f"{found.duplicates} | {found.left_running} | {found.failed} | {found.killed} | "
                f"{found.retried} | {'yes' if found == expected else '**no**'} | {seconds:.0f} |"
            )
            print(lines[-1], flush=True)
    return rows, "\n".join(lines) + "\n"


def machine() -> str:
    """CPU cores and model, and the operating system."""
    cpu = platform.processor() or platform.machine()
    with open("/proc/cpuinfo", encoding="utf-8") as info:
        names = [line.split(":", 1)[1].strip() for line in info if line.startswith("model name")]
    return f"{os.cpu_count()} CPU cores ({names[0] if names else cpu}), {platform.system()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40, help="trials per search")
    parser.add_argument("--trial-s", type=float, default=0.25, help="seconds of sleep per trial")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--storages", nargs="+", choices=STORAGES, default=list(STORAGES))
    parser.add_argument("--faults", action="store_true", help="run the tuner x storage kill matrix")
    args = parser.parse_args()
    with _storages(args.storages) as server:
        if args.faults:
            rows, table = faults(args, server)
            name = "workers.faults"
        else:
            rows = []
            for kind in args.storages:
                for kills in (0, 1):
                    for n in args.workers:
                        rows.append(measure(kind, n, kills, args, server))
                        print(rows[-1], flush=True)
            table, name = throughput_table(rows, args), "workers"
    print(table)
    (RESULTS / f"{name}.md").write_text(table)
    (RESULTS / f"{name}.json").write_text(json.dumps(rows, indent=1) + "\n")
    if args.faults and not all(row["holds"] for row in rows):
        raise SystemExit("a study did not hold: see the table")


if __name__ == "__main__":
    main()
