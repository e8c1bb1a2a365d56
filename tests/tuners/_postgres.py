"""A throwaway PostgreSQL server on 127.0.0.1, for the tests and ``bench/workers.py``.

It runs the system's PostgreSQL binaries on a free port with a fresh data directory, trusts
local connections and skips ``fsync``; whoever starts it destroys it.
"""

from __future__ import annotations

import dataclasses
import glob
import importlib.util
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time

#: Bound on each ``initdb`` / ``pg_ctl`` call (``pg_ctl -w`` waits for the server itself).
COMMAND_TIMEOUT_S = 120


class PostgresUnavailableError(RuntimeError):
    """Why no throwaway server can run here (no binaries, no driver, no user to run as)."""


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


def _run(command: list[str], *, check: bool = True) -> None:
    subprocess.run(command, check=check, capture_output=True, timeout=COMMAND_TIMEOUT_S)


@dataclasses.dataclass
class Server:
    """A running throwaway PostgreSQL server."""

    url: str  # postgresql+psycopg://postgres@127.0.0.1:PORT (no database)
    control: list[str]  # pg_ctl, as the server's user, with its data directory
    data: str  # the data directory, deleted by destroy()
    _databases: itertools.count = dataclasses.field(default_factory=itertools.count)

    def stop(self) -> None:
        """Stop the server at once, as a crash would."""
        _run([*self.control, "-m", "immediate", "stop"])

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        _run([*self.control, "-w", "start"])

    def restart(self, down_s: float) -> None:
        """Stop the server at once, keep it down ``down_s`` seconds, start it again."""
        self.stop()
        time.sleep(down_s)
        self.start()

    def create_database(self, prefix: str = "hx_test") -> str:
        """A fresh, empty database on the server; returns its URL."""
        import psycopg

        name = f"{prefix}_{next(self._databases)}"
        port = self.url.rsplit(":", 1)[1]
        conninfo = f"host=127.0.0.1 port={port} user=postgres dbname=postgres"
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=30) as connection:
            connection.execute(f"CREATE DATABASE {name}")
        return f"{self.url}/{name}"

    def destroy(self) -> None:
        """Stop the server (if it runs) and delete its data directory."""
        _run([*self.control, "-m", "immediate", "stop"], check=False)
        shutil.rmtree(self.data, ignore_errors=True)


def start_server() -> Server:
    """Start a throwaway server; the caller destroys it (``Server.destroy``).

    As root the binaries run as the ``postgres`` user (the server refuses root).

    Raises:
        PostgresUnavailableError: with the reason, where there are no binaries, no driver or no
            user to run the server as.
    """
    if importlib.util.find_spec("psycopg") is None:
        raise PostgresUnavailableError("psycopg 3 (pip install 'hyperflax[postgresql]')")
    initdb, pg_ctl = _server_binary("initdb"), _server_binary("pg_ctl")
    if not (initdb and pg_ctl):
        raise PostgresUnavailableError("no PostgreSQL server binaries (initdb, pg_ctl)")
    as_user: list[str] = []
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            raise PostgresUnavailableError("running as root without a 'postgres' user") from None
        as_user = ["runuser", "-u", "postgres", "--"]
    data = tempfile.mkdtemp(prefix="hx-postgresql-")
    if as_user:
        shutil.chown(data, "postgres")
    port = _free_port()
    options = f"-p {port} -c listen_addresses=127.0.0.1 -k {data} -c fsync=off"
    control = [*as_user, pg_ctl, "-D", data, "-o", options, "-l", f"{data}/server.log"]
    server = Server(f"postgresql+psycopg://postgres@127.0.0.1:{port}", control, data)
    try:
        _run([*as_user, initdb, "-D", data, "-U", "postgres", "--auth=trust", "--no-sync"])
        server.start()
    except BaseException:
        server.destroy()
        raise
    return server
