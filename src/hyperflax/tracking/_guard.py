"""One guard around all tracking calls: a failure disables tracking, never the search."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator

_LOGGER = logging.getLogger("hyperflax")

#: MLflow's HTTP settings while a tracker talks to a server (defaults: 7 retries with
#: exponential backoff and a 120 s timeout, minutes per call on a dead server). A variable the
#: user has set keeps the user's value.
HTTP_LIMITS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",
}


@contextlib.contextmanager
def http_limits() -> Iterator[None]:
    """Apply :data:`HTTP_LIMITS` to the environment for the duration of a block.

    Only variables the user has not set are added, and they are removed on exit, so the user's
    environment is the same afterwards (not thread-safe: another thread talking to MLflow at the
    same time sees the limits too).

    Example:
        >>> with http_limits():
        ...     os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] != ""
        True
    """
    added = {key: value for key, value in HTTP_LIMITS.items() if key not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for key in added:
            os.environ.pop(key, None)


@contextlib.contextmanager
def quiet_mlflow() -> Iterator[None]:
    """MLflow's INFO lines (database migrations, run links) are hidden during tracking calls.

    Example:
        >>> with quiet_mlflow():
        ...     logging.getLogger("mlflow").getEffectiveLevel() >= logging.WARNING
        True
    """
    import mlflow  # noqa: F401 - it configures its loggers when imported: do that first

    mlflow_logger = logging.getLogger("mlflow")
    level = mlflow_logger.level
    mlflow_logger.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        mlflow_logger.setLevel(level)


class Guard:
    """Runs tracking code; the first exception is logged once and disables the guard.

    Example:
        >>> guard = Guard()
        >>> guard.run(lambda: 1 / 0)  # logs one warning on the "hyperflax" logger
        >>> guard.enabled
        False
    """

    def __init__(self) -> None:
        self.enabled = True

    def reset(self) -> None:
        """Enable the guard again (a new search starts)."""
        self.enabled = True

    def run(self, action: Callable[[], None]) -> None:
        """Run ``action`` under :func:`http_limits` unless disabled; never raise an Exception."""
        if not self.enabled:
            return
        try:
            with http_limits(), quiet_mlflow():
                action()
        except Exception as exc:
            self.enabled = False
            _LOGGER.warning(
                "MLflow tracking failed and is off for the rest of this search (the search goes "
                "on): %s: %s",
                type(exc).__name__,
                exc,
            )
