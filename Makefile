# `make test` and (later) `make run` are the project's two commands; both create .venv on first use.
PYTHON ?= python3.11
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
# pip warns about optional local indexes that do not exist on every machine; that noise hides real errors.
QUIET_PIP := { grep -v "is ignored: it is neither a file nor a directory" || true; }
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test lint run clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip 2>&1 | $(QUIET_PIP)

$(STAMP): $(BIN)/python requirements.txt requirements-dev.txt
	$(BIN)/pip install --quiet -r requirements.txt -r requirements-dev.txt 2>&1 | $(QUIET_PIP)
	touch $(STAMP)

install: $(STAMP)

lint: install
	$(BIN)/ruff check .

test: lint
	$(BIN)/python -m pytest

# DATA=path.csv segments another census file; the default is the bundled synthetic sample. It reaches
# run_local.py through the environment, so no character of the path is ever parsed by a shell.
export DATA
run: install
	$(BIN)/python scripts/run_local.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache airflow_home output
