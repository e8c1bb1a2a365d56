import shutil
import subprocess
import sys
from pathlib import Path

from hyperflax.cli import main

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_demo_finds_the_branin_minimum(capsys):
    main(["demo", "--max-trials", "25"])
    out = capsys.readouterr().out
    best = float(out.split("best branin value ")[1].split()[0])
    assert best < 0.397887 + 0.5


def test_tune_a_yaml_config_then_summary(tmp_path, capsys):
    for name in ("branin_config.yaml", "quadratic.py"):
        shutil.copy(EXAMPLES / name, tmp_path / name)
    main(["tune", str(tmp_path / "branin_config.yaml")])
    main(["summary", "--project-name", "quadratic", "-n", "3"])
    out = capsys.readouterr().out
    assert "quadratic: best trials by value (minimize)" in out and "20 complete" in out


def test_console_script_and_the_readme_example_run(tmp_path):
    exe = Path(sys.executable).with_name("hyperflax")
    done = subprocess.run([str(exe), "--help"], capture_output=True, text=True, check=True)
    assert "demo" in done.stdout and "tune" in done.stdout
    run = subprocess.run(
        [sys.executable, str(EXAMPLES / "plain_function.py")],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert "'x':" in run.stdout
