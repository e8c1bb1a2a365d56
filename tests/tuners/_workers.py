"""Worker processes that share one study, SIGKILLs of them mid-trial, and an audit of the study.

Used by ``tests/tuners/test_workers.py``, ``tests/tuners/test_faults.py`` and
``bench/workers.py``. Run as a script, this file is one worker::

    python tests/tuners/_workers.py TUNER DIRECTORY STORAGE [--max-trials N] [--trial-s S]
        [--epoch-s S] [--markers DIR]

It searches the study ``shared`` (seed 0, no tracker) with a fixed-cost plain function:
``objective`` (``x``, ``k``) for RandomSearch and BayesianOptimization, ``stepped`` (``x``, ``k``
in {0, 0.5}, 9 reported epochs) for GridSearch (``x`` in 0..5: 12 points) and Hyperband
(``x`` in [0, 5], so no two sampled configurations coincide; ``max_epochs=9``: 22 trials).
Each trial sleeps ``--trial-s``, and ``--epoch-s`` more per reported epoch.

Kills land mid-trial, never in hyperflax's bookkeeping, by a handshake through ``--markers``:
a worker creates ``busy/<pid>`` when its function starts and removes it when it ends; the
killer claims a trial by renaming that file. Exactly one of the two succeeds, so a claimed
trial waits inside the function for its SIGKILL, and a trial that ended first is not killed.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import dataclasses
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import optuna

from hyperflax import _study_keys as keys

STUDY = "shared"
#: Complete trials a finished search has, by tuner (``None``: its ``max_trials``).
EXPECTED_COMPLETE: dict[str, int | None] = {
    "RandomSearch": None,
    "BayesianOptimization": None,
    "GridSearch": 12,  # 6 values of x times 2 of k
    "Hyperband": 22,  # max_epochs=9, factor=3
}
#: How long a claimed trial waits for its SIGKILL before it gives up and finishes.
CLAIMED_WAIT_S = 60.0
#: Bound on a killed worker's exit.
KILL_WAIT_S = 30.0


def storage_url(kind: str, directory: Path, database: Callable[[], str]) -> str:
    """The URL of a storage kind: ``sqlite``, ``journal`` (files in ``directory``), ``postgresql``.

    Args:
        kind: the storage kind.
        directory: where the file storages live.
        database: makes a fresh PostgreSQL database and returns its URL.
    """
    if kind == "postgresql":
        return database()
    if kind == "sqlite":
        return f"sqlite:///{directory / 'study.db'}"
    if kind == "journal":
        return f"journal://{directory / 'j.log'}"
    raise ValueError(f"storage kind must be sqlite, journal or postgresql, got {kind!r}")


def load_study(storage: str) -> optuna.Study:
    """The workers' study, read straight from its storage URL."""
    if storage.startswith("journal://"):
        backend = optuna.storages.journal.JournalFileBackend(storage.removeprefix("journal://"))
        return optuna.load_study(study_name=STUDY, storage=optuna.storages.JournalStorage(backend))
    return optuna.load_study(study_name=STUDY, storage=storage)


class WorkerError(RuntimeError):
    """A worker exited with an error, or the workers ran past their time."""


class Workers:
    """``n`` worker processes of one study, started together, that can be SIGKILLed mid-trial.

    A context manager: on exit every worker still running is killed.

    Args:
        directory: the project directory and the home of the workers' logs (and markers).
        tuner: a class name of ``hx.tuners``.
        storage: the study's storage URL.
        n: how many workers run at once.
        max_trials: for RandomSearch and BayesianOptimization.
        trial_s: the fixed cost of every trial, in seconds of sleep.
        epoch_s: more sleep per reported epoch (GridSearch, Hyperband).
        killable: whether the workers take part in the kill handshake (needed by ``run``'s
            ``kills``).
    """

    def __init__(
        self,
        directory: Path,
        tuner: str,
        storage: str,
        n: int = 3,
        *,
        max_trials: int = 16,
        trial_s: float = 0.2,
        epoch_s: float = 0.0,
        killable: bool = False,
    ) -> None:
        self.directory = directory
        self.markers = directory / "markers" if killable else None
        self.command = [sys.executable, __file__, tuner, str(directory), storage,
                        f"--max-trials={max_trials}", f"--trial-s={trial_s}",
                        f"--epoch-s={epoch_s}"]  # fmt: skip
        if self.markers is not None:
            (self.markers / "busy").mkdir(parents=True)
            (self.markers / "claimed").mkdir()
            self.command.append(f"--markers={self.markers}")
        self.logs: list[Path] = []
        self.killed: list[int] = []  # pids of the workers SIGKILLed
        self.procs = [self._spawn() for _ in range(n)]

    def _spawn(self) -> subprocess.Popen[bytes]:
        log = self.directory / f"worker-{len(self.logs)}.log"
        self.logs.append(log)
        with open(log, "wb") as stderr:
            return subprocess.Popen(self.command, stdout=subprocess.DEVNULL, stderr=stderr)

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=KILL_WAIT_S)

    def stderr(self) -> str:
        """What every worker, killed ones included, wrote to stderr."""
        return "".join(log.read_text(errors="replace") for log in self.logs)

    def trials_started(self) -> int:
        """How many trials' functions the workers have started (needs ``killable``)."""
        assert self.markers is not None
        started = self.markers / "started"
        return started.read_text().count("\n") if started.exists() else 0

    def run(
        self,
        *,
        kills: int = 0,
        seed: int = 0,
        kill_window: tuple[int, int] = (2, 10),
        timeout_s: float = 300.0,
    ) -> None:
        """Wait until every worker exits 0, SIGKILLing ``kills`` of them mid-trial on the way.

        Kill ``i`` happens once a seeded number of trials (drawn from ``kill_window``) has
        started, to a seeded choice among the workers then inside a trial; the killed worker
        is replaced at once by a fresh process running the same command.

        Raises:
            WorkerError: when a worker exits non-zero, or ``timeout_s`` passes first.
        """
        rng = random.Random(seed)
        pending = collections.deque(sorted(rng.sample(range(*kill_window), kills)))
        deadline = time.monotonic() + timeout_s
        while any(proc.poll() is None for proc in self.procs):
            if time.monotonic() > deadline:
                raise WorkerError(f"workers still running after {timeout_s} s:\n{self.stderr()}")
            if pending and self.trials_started() >= pending[0] and self._kill_one(rng):
                pending.popleft()
            time.sleep(0.01)
        if any(proc.returncode != 0 for proc in self.procs):
            codes = [proc.returncode for proc in self.procs]
            raise WorkerError(f"workers exited with {codes}:\n{self.stderr()}")

    def _kill_one(self, rng: random.Random) -> bool:
        """SIGKILL one worker inside a trial and start another; whether one was inside a trial."""
        assert self.markers is not None
        slots = {proc.pid: i for i, proc in enumerate(self.procs) if proc.poll() is None}
        busy = sorted(int(p.name) for p in (self.markers / "busy").iterdir())
        candidates = [pid for pid in busy if pid in slots]
        if not candidates:
            return False
        pid = rng.choice(candidates)
        try:  # claim the trial: from now on it waits inside the function for its SIGKILL
            os.rename(self.markers / "busy" / str(pid), self.markers / "claimed" / str(pid))
        except FileNotFoundError:  # it ended first
            return False
        os.kill(pid, signal.SIGKILL)
        slot = slots[pid]
        self.procs[slot].wait(timeout=KILL_WAIT_S)
        self.killed.append(pid)
        self.procs[slot] = self._spawn()
        return True


@dataclasses.dataclass(frozen=True)
class Audit:
    """How a shared study ended, in the counts the fault tests and the benchmark check."""

    complete: int  # COMPLETE trials
    duplicates: int  # complete trials whose configuration (and Hyperband rung) completed before
    left_running: int  # trials RUNNING or WAITING after every worker exited
    failed: int  # FAIL trials
    killed: int  # trials whose worker was SIGKILLed before they finished
    retried: int  # killed trials failed as "worker process died", retried once as they were

    @classmethod
    def expected(cls, complete: int, kills: int) -> Audit:
        """A study that holds: ``complete`` trials, each kill a trial failed and retried once."""
        return cls(complete, 0, 0, kills, kills, kills)


def audit(study: optuna.Study, killed_pids: list[int]) -> Audit:
    """Count what ``Audit`` names in ``study``, whose workers ``killed_pids`` were SIGKILLed."""
    trials = study.get_trials(deepcopy=False)
    states = collections.Counter(t.state.name for t in trials)
    configurations = collections.Counter(
        json.dumps([t.params, _plan(t).get("tags")], sort_keys=True)
        for t in trials
        if t.state.name == "COMPLETE"
    )
    pids = {str(pid) for pid in killed_pids}
    killed = [t for t in trials if t.state.name != "COMPLETE" and _owner_pid(t) in pids]
    retries = collections.defaultdict(list)
    for t in trials:
        if keys.RETRY_OF in t.user_attrs:
            retries[t.user_attrs[keys.RETRY_OF]].append(t)

    def retried_once(t: optuna.trial.FrozenTrial) -> bool:
        again = retries[t.number]
        return (
            t.state.name == "FAIL"
            and "worker process died" in t.user_attrs.get(keys.ERROR, "")
            and len(again) == 1
            and _configuration(t).items() <= _configuration(again[0]).items()
            and _plan(again[0]) == _plan(t)
        )

    return Audit(
        complete=states["COMPLETE"],
        duplicates=sum(configurations.values()) - len(configurations),
        left_running=states["RUNNING"] + states["WAITING"],
        failed=states["FAIL"],
        killed=len(killed),
        retried=sum(map(retried_once, killed)),
    )


def _plan(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    return trial.user_attrs.get(keys.PLAN, {})


def _configuration(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """The values a trial was given: its parameters and those queued for it."""
    return {**trial.system_attrs.get("fixed_params", {}), **trial.params}


def _owner_pid(trial: optuna.trial.FrozenTrial) -> str | None:
    """The pid in the trial's ``host:pid:start`` owner tag (``None`` when it has none)."""
    tag = trial.user_attrs.get(keys.OWNER)
    return tag.rsplit(":", 2)[1] if isinstance(tag, str) and tag.count(":") >= 2 else None


#: The fault runs: small and fixed-cost, so that kills land mid-trial within seconds.
FAULT_TRIALS, FAULT_TRIAL_S, FAULT_EPOCH_S = 16, 0.15, 0.02


def fault_run(
    directory: Path, tuner: str, storage: str, *, kills: int = 2, seed: int = 0,
    timeout_s: float = 240.0,
) -> tuple[Audit, Audit]:  # fmt: skip
    """Three workers search one study; ``kills`` of them are SIGKILLed mid-trial and restarted.

    Returns:
        What the study holds after every worker exited 0, and what it must hold.

    Raises:
        WorkerError: when a worker fails or the search outlasts ``timeout_s``.
    """
    with Workers(
        directory, tuner, storage, max_trials=FAULT_TRIALS, trial_s=FAULT_TRIAL_S,
        epoch_s=FAULT_EPOCH_S, killable=True,
    ) as workers:  # fmt: skip
        workers.run(kills=kills, seed=seed, timeout_s=timeout_s)
    complete = EXPECTED_COMPLETE[tuner] or FAULT_TRIALS
    return audit(load_study(storage), workers.killed), Audit.expected(complete, kills)


# -- the worker ------------------------------------------------------------------------------


@contextlib.contextmanager
def _killable(markers: Path | None) -> Iterator[None]:
    """Mark this worker as inside a trial; if the killer claims the trial, wait for the kill."""
    if markers is None:
        yield
        return
    busy = markers / "busy" / str(os.getpid())
    busy.touch()
    with open(markers / "started", "a", encoding="ascii") as started:
        started.write(f"{os.getpid()}\n")
    try:
        yield
    finally:
        try:
            busy.unlink()
        except FileNotFoundError:  # claimed: a SIGKILL is on its way
            time.sleep(CLAIMED_WAIT_S)


def main(argv: list[str] | None = None) -> None:
    """One worker: search the shared study with the tuner and costs named on the command line."""
    parser = argparse.ArgumentParser(description="one worker of a shared study")
    parser.add_argument("tuner", choices=sorted(EXPECTED_COMPLETE))
    parser.add_argument("directory")
    parser.add_argument("storage")
    parser.add_argument("--max-trials", type=int, default=16)
    parser.add_argument("--trial-s", type=float, default=0.2)
    parser.add_argument("--epoch-s", type=float, default=0.0)
    parser.add_argument("--markers", type=Path, default=None)
    args = parser.parse_args(argv)

    import hyperflax as hx

    def objective(hp: hx.HyperParameters) -> float:
        x, k = hp.Float("x", -5.0, 5.0), hp.Int("k", 0, 1000)
        with _killable(args.markers):
            time.sleep(args.trial_s)  # long enough for the workers to interleave
        return x**2 + k

    def stepped(hp: hx.HyperParameters) -> float:
        x = hp.Int("x", 0, 5) if args.tuner == "GridSearch" else hp.Float("x", 0.0, 5.0)
        k = hp.Choice("k", [0.0, 0.5])
        with _killable(args.markers):
            time.sleep(args.trial_s)
            for epoch in range(9):
                time.sleep(args.epoch_s)
                hp.report((x - 2) ** 2 + 1.0 / (epoch + 1), step=epoch)
        return (x - 2) ** 2 + k

    options: dict[str, Any] = dict(
        objective=hx.Objective("value", "min"), directory=args.directory, project_name=STUDY,
        storage=args.storage, tracker=None, seed=0, verbose=0,
    )  # fmt: skip
    if args.tuner == "GridSearch":
        tuner = hx.tuners.GridSearch(stepped, **options)
    elif args.tuner == "Hyperband":
        tuner = hx.tuners.Hyperband(stepped, max_epochs=9, **options)
    else:
        tuner = getattr(hx.tuners, args.tuner)(objective, max_trials=args.max_trials, **options)
    tuner.search()


if __name__ == "__main__":
    main()
