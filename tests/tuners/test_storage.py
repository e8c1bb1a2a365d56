"""Which database errors a search retries: lost connections and locks, not bad data."""

import sqlite3

import sqlalchemy.exc
from optuna.exceptions import StorageInternalError

from hyperflax.tuners._storage import call_with_retries, is_transient


def _sqlite_error(message: str) -> StorageInternalError:
    cause = sqlalchemy.exc.OperationalError("UPDATE ...", {}, sqlite3.OperationalError(message))
    error = StorageInternalError("An exception is raised during the commit.")
    error.__cause__ = cause
    return error


def test_a_locked_sqlite_file_is_retried_a_missing_table_is_not():
    assert is_transient(_sqlite_error("database is locked"))
    assert not is_transient(_sqlite_error("no such table: trials"))
    assert not is_transient(_sqlite_error("attempt to write a readonly database"))
    assert not is_transient(ValueError("bad value"))


def test_retries_end_when_the_call_succeeds():
    attempts = []

    def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise _sqlite_error("database is locked")
        return "done"

    assert call_with_retries(flaky, name="flaky", retry_for_s=10.0) == "done"
    assert len(attempts) == 3
