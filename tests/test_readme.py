"""The README's 30-second examples run as written, each in a fresh folder."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _blocks():
    """Each '## 30 seconds' section's first python block, by section title."""
    sections = re.split(r"^## ", README, flags=re.M)
    found = {}
    for section in sections:
        title = section.splitlines()[0]
        match = re.search(r"```python\n(.*?)```", section, flags=re.S)
        if title.startswith("30 seconds") and match:
            found[title] = match.group(1)
    return found


BLOCKS = _blocks()
EXAMPLES = {  # blocks that are example scripts the tests already run
    "30 seconds: AutoML on a table": "automl_table.py",
    "30 seconds: AutoML on images": "automl_images.py",
    "30 seconds: tune a plain function": "plain_function.py",
    "30 seconds: push a leaderboard": "leaderboard_push.py",
}


def test_every_30_second_example_is_found():
    assert len(BLOCKS) == 6, list(BLOCKS)


@pytest.mark.parametrize("title", sorted(EXAMPLES))
def test_examples_covered_by_scripts_match_them(title):
    script = (ROOT / "examples" / EXAMPLES[title]).read_text(encoding="utf-8")
    code_lines = [line for line in BLOCKS[title].splitlines() if line and not line.startswith("#")]
    assert all(line.split("  #")[0].rstrip() in script for line in code_lines), title


@pytest.mark.parametrize("title", sorted(set(BLOCKS) - set(EXAMPLES)))
def test_the_other_examples_run_as_written_in_a_fresh_folder(title, tmp_path):
    run = subprocess.run(
        [sys.executable, "-c", BLOCKS[title]],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
