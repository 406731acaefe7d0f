# `make test` and (later) `make run` are the project's two commands; both create .venv on first use.
PYTHON ?= python3.11
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
# pip warns about optional local indexes that do not exist on every machine; that noise hides real errors.
QUIET_PIP := { grep -v "is ignored: it is neither a file nor a directory" || true; }
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test test-fast lint format run clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip 2>&1 | $(QUIET_PIP)

$(STAMP): $(BIN)/python requirements.txt requirements-dev.txt
	$(BIN)/pip install --quiet -r requirements.txt -r requirements-dev.txt 2>&1 | $(QUIET_PIP)
	touch $(STAMP)

install: $(STAMP)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Rewrites files: ruff's formatter, then the fixable lint rules (import order).
format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: lint
	$(BIN)/python -m pytest

# The unit, format and emulator tests; leaves out the slow ones that run Airflow or whole pipelines.
test-fast: lint
	$(BIN)/python -m pytest -m "not slow"

# DATA=path.csv segments another census file; the default is the bundled synthetic sample. It reaches
# run_local.py through the environment, so no character of the path is ever parsed by a shell.
export DATA
run: install
	$(BIN)/python scripts/run_local.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache airflow_home output
