"""Screenshots of ``hyperflax dashboard`` in headless Chromium, for the README.

Runs a small search with tracking on (Bayesian optimization of Branin, 25 trials) in a
temporary directory, starts ``hyperflax dashboard`` on it, and saves what Debian's ``chromium``
shows as ``docs/optuna_dashboard.png`` (the study's page) and ``docs/mlflow_ui.png`` (the
search's parent run with its optimization history plot). Needs
``pip install 'hyperflax[dashboard]'`` and ``apt-get install chromium``; from the repository
root::

    python docs/screenshots.py
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

import hyperflax as hx
from hyperflax.testing import branin

DOCS = Path(__file__).resolve().parent
CHROMIUM_FLAGS = [
    *("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"),
    *("--disable-component-update", "--no-first-run", "--hide-scrollbars"),
    *("--window-size=1280,800", "--virtual-time-budget=15000"),
]


def make_project(directory: Path) -> Path:
    """A finished, tracked search to look at; returns its project directory."""
    tuner = hx.tuners.BayesianOptimization(
        branin,
        objective=hx.Objective("value", "min"),
        max_trials=25,
        directory=directory,
        project_name="branin",
        seed=0,
        verbose=0,
    )
    tuner.search()
    return directory / "branin"


def screenshot(chromium: str, url: str, path: Path) -> None:
    """Save what ``url`` shows once its scripts ran as the PNG file ``path``."""
    subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--screenshot={path}", url],
        check=True,
        capture_output=True,
        timeout=120,
    )
    print(f"{path.relative_to(DOCS.parent)}: {path.stat().st_size // 1024} KB")


def _search_run_page(mlflow_url: str, name: str) -> str:
    """The MLflow UI route of the search's parent run, showing its optimization history plot."""
    request = urllib.request.Request(
        f"{mlflow_url}ajax-api/2.0/mlflow/runs/search",
        data=json.dumps(
            {"experiment_ids": ["1"], "filter": f"attributes.run_name = '{name}'"}
        ).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as response:
        run = json.load(response)["runs"][0]["info"]
    plot = "artifacts/plots/optimization_history.png?workflowType=machine_learning"
    return f"/experiments/{run['experiment_id']}/runs/{run['run_id']}/{plot}"


def main() -> None:
    """Make the project, serve it, take both screenshots and stop the servers."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("screenshots.py needs Chromium: apt-get install -y chromium")
    with tempfile.TemporaryDirectory() as tmp:
        project = make_project(Path(tmp))
        dashboard = subprocess.Popen(
            [sys.executable, "-m", "hyperflax", "dashboard", str(project)],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert dashboard.stdout is not None
            urls = {}
            for line in dashboard.stdout:
                if line.startswith("Ctrl-C"):
                    break
                name, _, url = line.partition(": ")
                urls[name] = url.strip()
            if len(urls) != 2:
                raise SystemExit(f"hyperflax dashboard did not print both URLs: {urls}")
            optuna_url, mlflow_url = urls["optuna-dashboard"], urls["MLflow UI"]
            screenshot(chromium, f"{optuna_url}/studies/1", DOCS / "optuna_dashboard.png")
            page = f"{mlflow_url}#{_search_run_page(mlflow_url, project.name)}"
            screenshot(chromium, page, DOCS / "mlflow_ui.png")
        finally:
            dashboard.send_signal(signal.SIGINT)
            dashboard.wait(60)


if __name__ == "__main__":
    main()
