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

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest

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
	rm -rf $(VENV) hx_runs .pytest_cache
