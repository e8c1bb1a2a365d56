"""Fixtures for the tests that share a study: a throwaway PostgreSQL server, storage URLs."""

import pytest

from tests.tuners._postgres import PostgresUnavailableError, start_server
from tests.tuners._workers import storage_url


@pytest.fixture(scope="session")
def postgresql_server():
    """A throwaway server (see ``tests/tuners/_postgres.py``), deleted at the end of the session.

    Skipped, with the reason, where there are no server binaries or no driver.
    """
    try:
        server = start_server()
    except PostgresUnavailableError as why:
        pytest.skip(str(why))
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture
def postgresql_url(postgresql_server):
    """A fresh database on the throwaway server, for one test."""
    return postgresql_server.create_database()


@pytest.fixture
def storage_of(tmp_path, request):
    """The storage URL of a kind: a SQLite file, a journal file or a PostgreSQL database."""

    def storage(kind: str) -> str:
        return storage_url(kind, tmp_path, lambda: request.getfixturevalue("postgresql_url"))

    return storage
