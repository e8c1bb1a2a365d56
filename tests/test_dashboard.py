"""``hyperflax dashboard``: both UIs answer on a real project, and Ctrl-C stops both servers."""

import contextlib
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

import hyperflax as hx
from hyperflax.cli import main


def _objective(hp):
    return (hp.Float("x", -2.0, 2.0) - 1.0) ** 2 + hp.Int("k", 1, 3)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    directory = tmp_path_factory.mktemp("runs")
    hx.tuners.RandomSearch(
        _objective,
        objective=hx.Objective("value", "min"),
        max_trials=3,
        directory=directory,
        project_name="tiny",
        seed=0,
        verbose=0,
    ).search()
    return directory / "tiny"


def _lines(stream):
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in stream], daemon=True).start()
    return lines


def _status(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status


def _alive(pid):
    try:
        os.killpg(pid, 0)  # the server and everything it started: each has a group of its own
    except ProcessLookupError:
        return False
    return True


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads /proc for children")
def test_both_uis_answer_and_ctrl_c_stops_both_servers(project):
    pytest.importorskip("optuna_dashboard", reason="pip install 'hyperflax[dashboard]'")
    dashboard = subprocess.Popen(
        [sys.executable, "-m", "hyperflax", "dashboard", str(project)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        lines, urls = _lines(dashboard.stdout), {}
        while not (line := lines.get(timeout=240)).startswith("Ctrl-C stops both servers"):
            name, _, url = line.partition(": ")
            urls[name] = url.strip()
        assert set(urls) == {"optuna-dashboard", "MLflow UI"}
        assert all(url.startswith("http://127.0.0.1:") for url in urls.values())
        assert [_status(url) for url in urls.values()] == [200, 200]
        pid = dashboard.pid
        servers = [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        assert len(servers) == 2 and all(_alive(server) for server in servers)
    finally:
        dashboard.send_signal(signal.SIGINT)
        assert dashboard.wait(60) == 0
    deadline = time.monotonic() + 10
    while any(_alive(server) for server in servers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(server) for server in servers)
    for url in urls.values():
        with pytest.raises(OSError):  # refused: nothing listens any more
            _status(url)


def test_without_optuna_dashboard_it_prints_the_two_commands(tmp_path, monkeypatch, capsys):
    for store in ("study.db", "mlflow.db"):
        (tmp_path / store).touch()
    monkeypatch.setitem(sys.modules, "optuna_dashboard", None)  # as if not installed
    main(["dashboard", str(tmp_path), "--optuna-port", "8081"])
    lines = capsys.readouterr().out.splitlines()
    assert "pip install 'hyperflax[dashboard]'" in lines[0]
    assert lines[1].strip() == (
        f"optuna-dashboard sqlite:///{tmp_path}/study.db --host 127.0.0.1 --port 8081"
    )
    assert lines[2].strip().startswith(f"mlflow server --backend-store-uri sqlite:///{tmp_path}")
    assert lines[2].endswith("--host 127.0.0.1 --port 5000")


def test_a_directory_without_a_study_names_the_projects_in_it(project):
    with pytest.raises(SystemExit) as exit_info:
        main(["dashboard", str(project.parent)])
    message = str(exit_info.value.code)
    assert f"no study at {project.parent / 'study.db'}" in message
    assert message.endswith(f"projects in it: {project}")


@contextlib.contextmanager
def socket_on_a_port():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        yield busy.getsockname()[1]


def test_a_port_in_use_is_refused_before_anything_starts(project):
    pytest.importorskip("optuna_dashboard")
    with socket_on_a_port() as port, pytest.raises(SystemExit) as exit_info:
        main(["dashboard", str(project), "--optuna-port", str(port)])
    assert f"--optuna-port must be a free port on 127.0.0.1, got {port}" in exit_info.value.code


def test_a_server_that_fails_is_reported_in_one_line_and_the_other_stopped(project, tmp_path):
    pytest.importorskip("optuna_dashboard")
    shutil.copy(project / "study.db", tmp_path / "study.db")
    (tmp_path / "mlflow.db").write_text("not a database")
    done = subprocess.run(
        [sys.executable, "-m", "hyperflax", "dashboard", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "hyperflax dashboard: MLflow UI exited with status 1: sqlalchemy.exc.DatabaseError: "
        "(sqlite3.DatabaseError) file is not a database"
    ]
    optuna_url = done.stdout.split("optuna-dashboard: ")[1].split()[0]
    with pytest.raises(OSError):
        _status(optuna_url)
