"""The project directory, its Optuna study, and recovery of trials a dead worker left behind."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import logging
import os
import random
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import optuna
import sqlalchemy.engine
import sqlalchemy.event
import sqlalchemy.exc
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, TrialState

from hyperflax._study_keys import (
    DIRECTION,
    ERROR,
    HEARTBEAT,
    OBJECTIVE,
    OWNER,
    PLAN,
    RETRY_OF,
    SEARCHED,
    TUNER,
    WORKERS,
)
from hyperflax.tuners._objective import Objective
from hyperflax.tuners._storage import TRANSIENT_ERRORS, RetryingRDBStorage, retrying

logger = logging.getLogger("hyperflax")
T = TypeVar("T")

HEARTBEAT_INTERVAL_S = 15.0
STALE_AFTER_S = 120.0
#: A worker names itself on its trial right after asking for it (inside the scheduling lock), so
#: a RUNNING trial with no owner after this long belongs to a worker that died in between.
OWNERLESS_AFTER_S = 10.0


def project_dir(directory: str | os.PathLike[str], project_name: str) -> Path:
    """``directory/project_name``, the home of a search's study and artifacts."""
    return Path(directory) / project_name


STORAGE_FORMS = (
    "sqlite:///relative/study.db, sqlite:////absolute/study.db, journal:///path/study.log "
    "(or any path ending in .log), postgresql+psycopg://user:password@host:5432/database"
)


def check_storage_url(storage: str) -> None:
    """Refuse a storage URL that cannot work, naming the forms that do, before anything opens.

    Example:
        >>> check_storage_url("sqlite:///hx_runs/study.db")
        >>> check_storage_url("sqlite://hx_runs/study.db")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: storage 'sqlite://hx_runs/study.db' is not a storage URL ... three slashes ...
    """
    if storage.startswith("journal://") or storage.endswith(".log"):
        return
    problem = ""
    try:
        url = sqlalchemy.engine.make_url(storage)
    except sqlalchemy.exc.ArgumentError:
        problem = "not a URL"
    else:
        if url.get_backend_name() == "sqlite" and url.host:  # sqlite://dir/file.db
            rest = storage.removeprefix("sqlite://")
            problem = f"sqlite needs three slashes before a relative path: sqlite:///{rest}"
        elif url.get_backend_name() not in ("sqlite", "postgresql", "mysql"):
            problem = f"unknown database {url.get_backend_name()!r}"
        elif url.get_backend_name() == "postgresql" and not _has_driver(url.get_driver_name()):
            raise ImportError(
                f"storage {storage!r} needs a PostgreSQL driver: pip install "
                f"'hyperflax[postgresql]' (psycopg 3) and write postgresql+psycopg://..."
            )
    if problem:
        raise ValueError(
            f"storage {storage!r} is not a storage URL hyperflax can open ({problem}); use one "
            f"of: {STORAGE_FORMS}"
        )


def _has_driver(driver: str) -> bool:
    module = {"psycopg": "psycopg", "psycopg2": "psycopg2"}.get(driver, driver)
    return importlib.util.find_spec(module) is not None


@contextlib.contextmanager
def scheduling_lock(storage: str | BaseStorage | None, project: Path) -> Iterator[None]:
    """Serialize choosing and claiming the next trial among all the workers of one study.

    SQLite ignores ``SELECT ... FOR UPDATE``, on which Optuna's queue of waiting trials relies,
    and a journal file has no queue lock either; on PostgreSQL the queue is safe but planning
    is not (two workers enqueue the same grid point or promotion, or both start the trial that
    reaches ``max_trials``). So planning, queueing and claiming happen under one lock per
    study: for a SQLite or journal file a file lock beside it (``fcntl.flock`` on
    ``<file>.hx-schedule``; Optuna's own journal lock is ``<file>.lock``), for PostgreSQL a
    session advisory lock keyed by the study name (held by one connection, released by the
    server if the worker dies). MySQL and other storages get no lock: run one worker per study
    there, or use PostgreSQL.

    Example:
        >>> with scheduling_lock("sqlite:///study.db", Path(".")):
        ...     pass  # plan, enqueue and ask here
    """
    engine = _postgresql_engine(storage)
    if engine is not None:
        with _advisory_lock(engine, project.name):
            yield
        return
    try:
        import fcntl  # POSIX only; elsewhere there is one worker per study or a server database
    except ImportError:
        yield
        return
    path = _lock_path(storage, project)
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="ascii") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@functools.lru_cache(maxsize=8)
def _engine_for(url: str) -> sqlalchemy.engine.Engine:
    """One small connection pool per PostgreSQL URL, for the scheduling lock."""
    return sqlalchemy.create_engine(url, pool_size=1, max_overflow=1, pool_pre_ping=True)


def _postgresql_engine(storage: str | BaseStorage | None) -> sqlalchemy.engine.Engine | None:
    if isinstance(storage, RDBStorage):
        engine = storage.engine
    elif isinstance(storage, str) and storage.startswith("postgresql"):
        engine = _engine_for(storage)
    else:
        return None
    return engine if engine.dialect.name == "postgresql" else None


@contextlib.contextmanager
def _advisory_lock(engine: sqlalchemy.engine.Engine, name: str) -> Iterator[None]:
    """PostgreSQL's session advisory lock ``hyperflax:<name>``, held while the body runs.

    Taking the lock survives a database restart like every storage call (retried with
    backoff); a connection lost while it is held ends the session and so releases the lock on
    the server, which is all an unlock would do.
    """
    digest = hashlib.sha256(f"hyperflax:{name}".encode()).digest()
    key = {"key": int.from_bytes(digest[:8], "big", signed=True)}
    connection = _locked_connection(engine, key)
    try:
        yield
    finally:
        with contextlib.suppress(*TRANSIENT_ERRORS):
            connection.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:key)"), key)
            connection.commit()
        connection.close()


@retrying
def _locked_connection(
    engine: sqlalchemy.engine.Engine, key: dict[str, int]
) -> sqlalchemy.engine.Connection:
    connection = engine.connect()
    try:
        connection.execute(sqlalchemy.text("SELECT pg_advisory_lock(:key)"), key)
    except BaseException:
        connection.close()
        raise
    return connection


def _lock_path(storage: str | BaseStorage | None, project: Path) -> Path | None:
    if storage is None:
        return project / "study.db.hx-schedule"
    if isinstance(storage, BaseStorage):
        return None
    if storage.startswith("journal://") or storage.endswith(".log"):
        return Path(f"{storage.removeprefix('journal://')}.hx-schedule")
    url = sqlalchemy.engine.make_url(storage)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(f"{url.database}.hx-schedule")
    return None


def make_storage(storage: str | BaseStorage | None, project: Path) -> BaseStorage:
    """An Optuna storage from a URL, a journal file path or an instance; default SQLite.

    ``journal:///path/file.log`` (or any path ending in ``.log``) is a journal file, other
    strings are SQLAlchemy URLs (``sqlite:///``, ``postgresql://``, ``mysql://``).
    """
    if isinstance(storage, BaseStorage):
        return storage
    if storage is None:
        project.mkdir(parents=True, exist_ok=True)
        storage = f"sqlite:///{(project / 'study.db').resolve()}"
    if storage.startswith("journal://") or storage.endswith(".log"):
        path = storage.removeprefix("journal://")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(path))
    if not storage.startswith("sqlite"):
        return RetryingRDBStorage(storage)
    # Several worker processes share one SQLite file: wait for locks instead of failing.
    rdb = RetryingRDBStorage(storage, engine_kwargs={"connect_args": {"timeout": 60}})
    if _lock_path(storage, project) is not None:  # a file, not an in-memory database
        _write_ahead_log(rdb.engine)
    return rdb


def _write_ahead_log(engine: sqlalchemy.engine.Engine) -> None:
    """SQLite's write-ahead log, synced once per checkpoint rather than once per commit.

    A trial commits some 25 times (reports, attributes, tell), and with the default rollback
    journal every commit syncs the file: half of a warm trial's storage time. In WAL mode a
    killed process loses nothing it committed (only a power loss can undo the last commits),
    readers never block the writer, and every process on the machine shares the file as
    before. WAL needs shared memory, so the file must be on a local disk (not NFS), which
    several machines need a server database for anyway.
    """
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA journal_mode=WAL")

    @sqlalchemy.event.listens_for(engine, "connect")
    def _synchronous_normal(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")

    engine.dispose()  # connections opened before the listener take it up when reopened


def retry_race(open_: Callable[[], T], attempts: int = 8) -> T:
    """Run ``open_`` again when workers starting together race to create the same tables.

    Example:
        >>> retry_race(lambda: "opened")
        'opened'
    """
    for attempt in range(attempts - 1):
        try:
            return open_()
        except sqlalchemy.exc.SQLAlchemyError:
            time.sleep(0.1 * (attempt + 1) + random.random() * 0.1)
    return open_()


def reset_project(storage: BaseStorage, study_name: str, project: Path) -> None:
    """Delete a study and the project's artifacts (``overwrite=True``)."""
    with contextlib.suppress(KeyError):  # nothing to delete
        optuna.delete_study(study_name=study_name, storage=storage)
    # The compilation cache is keyed by program content and never stale: it stays.
    shutil.rmtree(project / "checkpoints", ignore_errors=True)


def check_compatible(study: optuna.Study, objective: Objective, tuner: str, searched: str) -> None:
    """Refuse to resume a study made for another objective, tuner or searched function."""
    attrs = study.user_attrs
    want = {OBJECTIVE: objective.name, DIRECTION: objective.direction, TUNER: tuner}
    want[SEARCHED] = searched
    for key, value in want.items():
        if attrs.get(key) is None:  # a new study (or one made before the key existed)
            study.set_user_attr(key, value)
        elif attrs[key] != value:
            raise ValueError(
                f"study {study.study_name!r} was created with {key.removeprefix('hx:')}="
                f"{attrs[key]!r}, not {value!r}: it belongs to another search. Pass another "
                f"project_name (or directory) for this one, or overwrite=True to delete that "
                f"study and start afresh"
            )


def owner_tag() -> str:
    """``host:pid:start`` of this process, to tell a dead worker's trials from a live one's."""
    return f"{socket.gethostname()}:{os.getpid()}:{_start_time(os.getpid())}"


def _start_time(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except OSError:
        return "?"


def _owner_is_dead(trial: FrozenTrial, now: float) -> bool:
    tag = trial.user_attrs.get(OWNER)
    if not isinstance(tag, str) or tag.count(":") < 2:  # died before it could say whose it is
        started = trial.datetime_start.timestamp() if trial.datetime_start else now
        return now - started > OWNERLESS_AFTER_S
    host, pid, start = tag.rsplit(":", 2)
    if host == socket.gethostname():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return start not in ("?", _start_time(int(pid)))
    started = trial.datetime_start.timestamp() if trial.datetime_start else now
    beat = trial.user_attrs.get(HEARTBEAT, started)  # no beat yet: as old as the trial
    return isinstance(beat, int | float) and now - beat > STALE_AFTER_S


def recover_stale_trials(study: optuna.Study) -> list[int]:
    """Mark trials whose worker died as failed and queue their configurations again.

    A trial is stale when its worker process on this host is gone, or when a worker on
    another host has not sent a heartbeat for ``STALE_AFTER_S`` seconds.

    Returns:
        the numbers of the recovered trials.
    """
    now = time.time()
    recovered = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if not _owner_is_dead(trial, now):
            continue
        handle = optuna.Trial(study, trial._trial_id)
        fail_and_retry(study, handle, "interrupted: its worker process died; configuration retried")
        recovered.append(trial.number)
        logger.warning("trial %d was left running by a dead worker; retrying it", trial.number)
    return recovered


def join_as_worker(study: optuna.Study) -> int:
    """This search's index among the searches ever run on the study: 0 for the first.

    Called under the scheduling lock, so workers started together get different indices.
    """
    index = int(study.user_attrs.get(WORKERS, 0))
    study.set_user_attr(WORKERS, index + 1)
    return index


def fail_and_retry(study: optuna.Study, trial: optuna.Trial, message: str) -> FrozenTrial | None:
    """Mark an interrupted trial failed and queue its configuration (and plan) again.

    Returns:
        The failed trial, or ``None`` when another worker finished it first (then nothing
        more is queued).
    """
    try:
        trial.set_user_attr(ERROR, message)
        frozen = study.tell(trial, state=TrialState.FAIL)
    except (ValueError, RuntimeError):  # already finished by another worker
        return None
    plan = {PLAN: frozen.user_attrs[PLAN]} if PLAN in frozen.user_attrs else {}
    params = {**frozen.system_attrs.get("fixed_params", {}), **frozen.params}
    study.enqueue_trial(params, user_attrs={**plan, RETRY_OF: frozen.number})
    return frozen


class Heartbeat:
    """Records a heartbeat on a running trial from a daemon thread, for workers on other hosts.

    Example:
        >>> with Heartbeat(trial):  # doctest: +SKIP
        ...     run(trial)
    """

    def __init__(self, trial: optuna.Trial) -> None:
        self._trial = trial
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="hyperflax-heartbeat", daemon=True)

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_INTERVAL_S):
            try:
                self._trial.set_user_attr(HEARTBEAT, time.time())
            except Exception:  # a storage hiccup must not kill the trial
                logger.debug("heartbeat failed", exc_info=True)

    def __enter__(self) -> Heartbeat:
        self._trial.set_user_attr(HEARTBEAT, time.time())
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():  # not when entering failed (or it was stopped already)
            self._thread.join()
