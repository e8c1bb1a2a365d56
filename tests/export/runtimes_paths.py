"""Where the export tests' JavaScript runtimes live (see tests/export/runtimes/package.json)."""

from pathlib import Path

RUNTIMES = Path(__file__).resolve().with_name("runtimes")
NODE_MODULES = RUNTIMES / "node_modules"
