"""``hyperflax dashboard``: optuna-dashboard and the MLflow UI on a project's embedded stores."""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Any

HOST = "127.0.0.1"
INSTALL = "pip install 'hyperflax[dashboard]'"
_STOP_SECONDS = 10.0


@dataclasses.dataclass(frozen=True)
class Server:
    """One UI to start: its name, its command line and the URL that answers once it is up."""

    name: str
    argv: list[str]
    url: str


def servers(project: str | os.PathLike[str], optuna_port: int, mlflow_port: int) -> list[Server]:
    """The servers that show a project: optuna-dashboard, and the MLflow UI if it was tracked.

    Both listen on 127.0.0.1. The commands are the console scripts ``optuna-dashboard`` and
    ``mlflow server``, as a user would type them; ``run`` starts them beside this interpreter.

    Args:
        project: a project directory (``<directory>/<project_name>``) holding ``study.db``.
        optuna_port: the TCP port of optuna-dashboard.
        mlflow_port: the TCP port of the MLflow UI.

    Raises:
        SystemExit: ``project`` holds no ``study.db``; the message lists the projects found in it.

    Example:
        >>> [s.name for s in servers("hx_runs/digits", 8080, 5000)]  # doctest: +SKIP
        ['optuna-dashboard', 'MLflow UI']
    """
    root = Path(project).resolve()
    if not (root / "study.db").is_file():
        found = sorted(str(p.parent) for p in Path(project).glob("*/study.db"))
        hint = f"projects in it: {', '.join(found)}" if found else "pass hx_runs/<project_name>"
        raise SystemExit(f"hyperflax dashboard: no study at {root / 'study.db'}; {hint}")
    found_servers = [
        Server(
            "optuna-dashboard",
            ["optuna-dashboard", f"sqlite:///{root / 'study.db'}", *_listen(optuna_port)],
            f"http://{HOST}:{optuna_port}/dashboard",
        )
    ]
    if (root / "mlflow.db").is_file():
        found_servers.append(
            Server(
                "MLflow UI",
                [
                    *("mlflow", "server", "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}"),
                    *("--artifacts-destination", str(root / "mlartifacts"), "--workers", "1"),
                    *_listen(mlflow_port),
                ],
                f"http://{HOST}:{mlflow_port}/",
            )
        )
    return found_servers


def run(
    project: str | os.PathLike[str],
    *,
    optuna_port: int | None = None,
    mlflow_port: int | None = None,
    startup_timeout: float = 180.0,
) -> None:
    """Serve a project's UIs until Ctrl-C, or print the commands if optuna-dashboard is missing.

    Each server runs in its own process group; the URLs are printed once they answer, and
    Ctrl-C (or ``SIGTERM``) stops both servers with everything they started.

    Args:
        project: a project directory (``<directory>/<project_name>``) holding ``study.db``.
        optuna_port: optuna-dashboard's port; ``None`` picks a free one.
        mlflow_port: the MLflow UI's port; ``None`` picks a free one.
        startup_timeout: seconds each server has to answer before the command gives up.

    Example:
        >>> run("hx_runs/digits")  # doctest: +SKIP
        optuna-dashboard: http://127.0.0.1:40215/dashboard
        MLflow UI:        http://127.0.0.1:38121/
    """
    if importlib.util.find_spec("optuna_dashboard") is None:
        found = servers(project, optuna_port or 8080, mlflow_port or 5000)
        print(f"optuna-dashboard is not installed ({INSTALL}); then run each in its own shell:")
        for server in found:
            print("  " + shlex.join(server.argv))
        return
    found = servers(
        project, _port("--optuna-port", optuna_port), _port("--mlflow-port", mlflow_port)
    )
    if len(found) == 1:
        print(f"no MLflow store in {project} (searched with tracker=None): optuna-dashboard only")
    # Ctrl-C even where SIGINT was ignored (a background job), and SIGTERM, stop the servers
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    started: list[subprocess.Popen[bytes]] = []
    with contextlib.ExitStack() as logs:
        try:
            for server in found:
                log = logs.enter_context(tempfile.TemporaryFile())
                started.append(_start(server, log))
                _wait_until_up(server, started[-1], log, startup_timeout)
                print(f"{server.name + ':':17} {server.url}", flush=True)
            print(f"Ctrl-C stops {'both servers' if len(found) > 1 else 'the server'}", flush=True)
            while all(process.poll() is None for process in started):
                time.sleep(0.5)
            stopped = [
                f"{s.name} exited ({p.returncode})"
                for s, p in zip(found, started, strict=True)
                if p.poll() is not None
            ]
            raise SystemExit(f"hyperflax dashboard: {', '.join(stopped)}")
        except KeyboardInterrupt:
            pass
        finally:
            for process in started:
                _stop(process)
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _listen(port: int) -> tuple[str, ...]:
    return ("--host", HOST, "--port", str(port))


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _port(option: str, port: int | None) -> int:
    """``port`` if it is free on 127.0.0.1, or a free port if ``None``."""
    with socket.socket() as probe:
        try:
            probe.bind((HOST, port or 0))
        except OSError as e:
            raise SystemExit(
                f"hyperflax dashboard: {option} must be a free port on {HOST}, got {port} "
                f"({e.strerror}); pass another or leave it out for a free one"
            ) from e
        return int(probe.getsockname()[1])


def _start(server: Server, log: IO[bytes]) -> subprocess.Popen[bytes]:
    """Start ``server`` from this interpreter's ``bin`` directory, in a process group of its own."""
    bin_dir = str(Path(sys.executable).parent)
    env = os.environ | {
        "PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", "")]),
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",  # no job runner: viewing needs none
    }
    return subprocess.Popen(
        [str(Path(bin_dir) / server.argv[0]), *server.argv[1:]],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,  # Ctrl-C reaches hyperflax, which stops the whole group
    )


def _wait_until_up(
    server: Server, process: subprocess.Popen[bytes], log: IO[bytes], timeout: float
) -> None:
    """Return once ``server.url`` answers HTTP 200; exit with the server's last line if it fails."""
    deadline = time.monotonic() + timeout
    while not _answers(server.url):
        if process.poll() is not None:
            why = f"exited with status {process.returncode}"
        elif time.monotonic() > deadline:
            why = f"did not answer in {timeout:.0f} s"
        else:
            time.sleep(0.5)
            continue
        raise SystemExit(f"hyperflax dashboard: {server.name} {why}: {_last_line(log)}")


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _last_line(log: IO[bytes]) -> str:
    """The server's last error line (an exception's ``Type: message``), else its last line."""
    log.seek(0)
    lines = log.read().decode(errors="replace").strip().splitlines()
    errors = [line for line in lines if re.match(r"[\w.]*(Error|Exception): ", line)]
    return (errors or lines or ["(no output)"])[-1]


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop ``process`` and every process of its group: SIGTERM, then SIGKILL if it lingers."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        deadline = time.monotonic() + _STOP_SECONDS
        while _group_alive(process.pid) and time.monotonic() < deadline:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(0.1)  # reaps the leader, whose zombie would keep the group alive
        if not _group_alive(process.pid):
            return


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
