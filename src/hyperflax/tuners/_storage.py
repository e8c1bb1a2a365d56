"""Optuna's RDB storage, made to survive a database restart: transient errors are retried."""

from __future__ import annotations

import functools
import logging
import sqlite3
import time
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import sqlalchemy.exc
from optuna.exceptions import StorageInternalError
from optuna.storages import RDBStorage

from hyperflax._errors import StorageUnavailableError

logger = logging.getLogger("hyperflax")
T = TypeVar("T")
P = ParamSpec("P")

#: Errors of a lost connection, a server restarting or a lock timeout; not bad data. (A
#: session whose connection broke mid-transaction raises PendingRollbackError until reset.)
TRANSIENT_ERRORS = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.PendingRollbackError,
)
RETRY_FOR_S = 120.0
_NOT_RETRIED = frozenset({"remove_session", "upgrade", "get_current_version", "get_head_version",
                          "get_all_versions"})  # fmt: skip


def is_transient(error: BaseException) -> bool:
    """Whether a storage error is a lost connection or a timeout, worth trying again.

    Example:
        >>> is_transient(ValueError("bad value"))
        False
    """
    cause = error.__cause__ if isinstance(error, StorageInternalError) else error
    if not isinstance(cause, TRANSIENT_ERRORS):
        return False
    original = getattr(cause, "orig", None)
    if isinstance(original, sqlite3.Error):  # a file, not a server: only its locks pass
        return any(word in str(original).lower() for word in ("locked", "busy"))
    return True


def call_with_retries(
    call: Callable[[], T],
    *,
    name: str,
    retry_for_s: float = RETRY_FOR_S,
    before_retry: Callable[[], None] | None = None,
) -> T:
    """``call()``, retried with backoff on transient database errors for up to ``retry_for_s``.

    Raises:
        StorageUnavailableError: when the errors last longer, naming ``name`` and the cause.

    Example:
        >>> call_with_retries(lambda: 42, name="answer")
        42
    """
    delay, give_up = 0.2, time.monotonic() + retry_for_s
    while True:
        try:
            return call()
        except (StorageInternalError, *TRANSIENT_ERRORS) as error:
            if not is_transient(error):
                raise
            if time.monotonic() + delay > give_up:
                raise StorageUnavailableError(
                    f"the study's database failed for {retry_for_s:.0f} s in a row ({name}: "
                    f"{error.__cause__ or error}); completed trials are kept there: rerun the "
                    f"search once the database answers to resume"
                ) from error
            logger.warning(
                "the study's database failed (%s); retrying in %.1f s", type(error).__name__, delay
            )
            if before_retry is not None:
                before_retry()
            time.sleep(delay)
            delay = min(2 * delay, 5.0)


def retrying(function: Callable[P, T]) -> Callable[P, T]:
    """``function`` with its transient database errors retried (see :func:`call_with_retries`).

    Example:
        >>> @retrying
        ... def count_rows() -> int:
        ...     return 0
    """

    @functools.wraps(function)
    def call(*args: P.args, **kwargs: P.kwargs) -> T:
        return call_with_retries(lambda: function(*args, **kwargs), name=function.__name__)

    return call


def _retrying_method(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(self: RetryingRDBStorage, *args: Any, **kwargs: Any) -> Any:
        return call_with_retries(
            lambda: method(self, *args, **kwargs), name=method.__name__,
            retry_for_s=self.retry_for_s, before_retry=self.remove_session,
        )  # fmt: skip

    return call


class RetryingRDBStorage(RDBStorage):
    """An ``RDBStorage`` whose calls retry transient database errors with backoff.

    A connection lost, a server restarting or a lock timeout is retried for up to
    ``retry_for_s`` seconds (each failure logged once as a warning); then
    :class:`~hyperflax.errors.StorageUnavailableError` ends the search with what failed.
    Connections are checked before use, so a restarted server is reconnected to. A write
    whose commit reached the server just before the connection broke may be applied twice;
    hyperflax's bookkeeping tolerates that for everything but a trial's creation, where the
    retry leaves one extra RUNNING trial that the next search start recovers.

    Args:
        url: a SQLAlchemy database URL.
        retry_for_s: how long a call may keep failing before the search stops.
        **kwargs: the arguments of ``optuna.storages.RDBStorage``.

    Example:
        >>> storage = RetryingRDBStorage("sqlite:///study.db")  # doctest: +SKIP
    """

    def __init__(self, url: str, *, retry_for_s: float = RETRY_FOR_S, **kwargs: Any) -> None:
        engine_kwargs = {"pool_pre_ping": True, **kwargs.pop("engine_kwargs", {})}
        self.retry_for_s = retry_for_s
        super().__init__(url, engine_kwargs=engine_kwargs, **kwargs)


#: The private methods Optuna's cache in front of an RDB storage calls directly.
_CACHE_CALLS = frozenset({"_create_new_trial", "_set_trial_param", "_get_best_trial_id",
                          "_get_trials", "_get_stale_trial_ids"})  # fmt: skip

for _name, _method in list(vars(RDBStorage).items()):
    public = not _name.startswith("_") and _name not in _NOT_RETRIED
    if callable(_method) and (public or _name in _CACHE_CALLS):
        setattr(RetryingRDBStorage, _name, _retrying_method(_method))
