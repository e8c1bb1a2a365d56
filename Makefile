# Every target builds .venv from nothing when it is missing.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench bench-peers clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install -e ".[dev]"
	touch $@ $(VENV)/.installed

$(VENV)/.installed-bench: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install -e ".[dev,bench]"
	touch $@ $(VENV)/.installed-dev $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/hyperflax demo

# The JavaScript runtimes the export tests run ONNX graphs in (Node.js, the browser); the
# tests say what is missing and skip on a machine without npm or Debian's chromium.
RUNTIMES := tests/export/runtimes
$(RUNTIMES)/node_modules/.installed: $(RUNTIMES)/package-lock.json
	@if command -v npm >/dev/null; then \
		(cd $(RUNTIMES) && npm ci --ignore-scripts --no-audit --no-fund && touch node_modules/.installed) \
		|| echo "npm ci failed: the Node.js and browser export tests will be skipped"; \
	else echo "no npm: the Node.js and browser export tests will be skipped"; fi

# One pytest worker per core (at most 4: each is a JAX process with its own throwaway servers);
# a file's tests stay together, in their order, on one worker.
test: $(VENV)/.installed-dev $(RUNTIMES)/node_modules/.installed
	$(BIN)/python -m pytest -n auto --maxprocesses 4 --dist loadfile

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests examples bench conftest.py
	$(BIN)/ruff format --check src tests examples bench conftest.py
	$(BIN)/mypy

bench: $(VENV)/.installed-bench
	$(BIN)/python -m bench

# AutoML vs FLAML and AutoGluon (issue 8): builds bench/.venv-peers (about 2 GB) on first use.
# make bench-peers ARGS="--systems hyperflax"; ARGS="--report-only"; see bench/automl_vs_peers.py
bench-peers: $(VENV)/.installed-bench
	$(BIN)/python -m bench.automl_vs_peers $(ARGS)

clean:
	rm -rf $(VENV) hx_runs .pytest_cache $(RUNTIMES)/node_modules
