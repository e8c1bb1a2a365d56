"""A throwaway PostgreSQL server for the tests that need one (started once, on 127.0.0.1)."""

import dataclasses
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time

import pytest


def _server_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return versions[-1] if versions else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclasses.dataclass
class Server:
    """A running throwaway PostgreSQL server."""

    url: str  # postgresql+psycopg://postgres@127.0.0.1:PORT (no database)
    control: list[str]  # pg_ctl, as the server's user, with its data directory

    def stop(self) -> None:
        """Stop the server at once, as a crash would."""
        subprocess.run([*self.control, "-m", "immediate", "stop"], check=True, capture_output=True)

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        subprocess.run([*self.control, "-w", "start"], check=True, capture_output=True)

    def restart(self, down_s: float) -> None:
        """Stop the server at once, keep it down ``down_s`` seconds, start it again."""
        self.stop()
        time.sleep(down_s)
        self.start()


@pytest.fixture(scope="session")
def postgresql_server():
    """``postgresql+psycopg://`` URL of a server stopped (and deleted) at the end of the session.

    Uses the system's PostgreSQL binaries; as root they run as the ``postgres`` user (the
    server refuses root). Skipped, with the reason, where there are none or no driver.
    """
    pytest.importorskip("psycopg", reason="psycopg 3 (pip install 'hyperflax[postgresql]')")
    initdb, pg_ctl = _server_binary("initdb"), _server_binary("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl): apt install postgresql")
    as_user: list[str] = []
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root without a 'postgres' user to run the server as")
        as_user = ["runuser", "-u", "postgres", "--"]
    data = tempfile.mkdtemp(prefix="hx-postgresql-")
    if as_user:
        shutil.chown(data, "postgres")
    port = _free_port()
    options = f"-p {port} -c listen_addresses=127.0.0.1 -k {data} -c fsync=off"
    subprocess.run(
        [*as_user, initdb, "-D", data, "-U", "postgres", "--auth=trust", "--no-sync"],
        check=True, capture_output=True,
    )  # fmt: skip
    control = [*as_user, pg_ctl, "-D", data, "-o", options, "-l", f"{data}/server.log"]
    subprocess.run([*control, "-w", "start"], check=True, capture_output=True)
    try:
        yield Server(f"postgresql+psycopg://postgres@127.0.0.1:{port}", control)
    finally:
        subprocess.run([*control, "-m", "immediate", "stop"], check=False, capture_output=True)
        shutil.rmtree(data, ignore_errors=True)


_databases = itertools.count()


@pytest.fixture
def postgresql_url(postgresql_server):
    """A fresh database on the throwaway server, for one test."""
    import psycopg

    name = f"hx_test_{next(_databases)}"
    port = postgresql_server.url.rsplit(":", 1)[1]
    conninfo = f"host=127.0.0.1 port={port} user=postgres dbname=postgres"
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    return f"{postgresql_server.url}/{name}"
