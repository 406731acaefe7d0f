# `make test`, `make run` and `make airflow` are the project's commands; each creates .venv on first use.
PYTHON ?= python3.11
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
# pip warns about optional local indexes that do not exist on every machine; that noise hides real errors.
# --line-buffered: the install's progress shows as it happens, not in one block at the end.
QUIET_PIP := { grep --line-buffered -v "is ignored: it is neither a file nor a directory" || true; }
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test test-fast lint format run airflow upload clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip 2>&1 | $(QUIET_PIP)

# Not --quiet: the first install takes minutes, and a silent terminal looks like a hang.
# Then the project itself, editable: scripts, bench and tests import its packages (pyproject.toml) from here.
$(STAMP): $(BIN)/python requirements.txt requirements-emulator.txt requirements-dev.txt pyproject.toml
	@echo "Installing Airflow, the Amazon provider, the local AWS emulator and the tools into $(VENV)/ (the first time takes about 2 minutes) …"
	$(BIN)/pip install --progress-bar off -r requirements-emulator.txt -r requirements-dev.txt 2>&1 | $(QUIET_PIP)
	$(BIN)/pip install --quiet --no-deps -e . 2>&1 | $(QUIET_PIP)
	touch $(STAMP)

install: $(STAMP)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Rewrites files: ruff's formatter, then the fixable lint rules (import order).
format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Two worker processes (pytest-xdist): most of a DAG test's time is spent waiting (poke intervals, the emulator's
# transitions), so two of them share two cores well. --dist loadscope keeps each module (and its module-scoped
# fixtures) on one worker; tests/conftest.py hands out the modules with the most slow tests first, which
# --no-loadscope-reorder keeps. PYTEST_WORKERS=0 runs in this one process. `python -m pytest FILE` stays serial.
PYTEST_WORKERS ?= 2
PYTEST_PARALLEL := -n $(PYTEST_WORKERS) --dist loadscope --no-loadscope-reorder

test: lint
	$(BIN)/python -m pytest $(PYTEST_PARALLEL)

# The unit, format and emulator tests; leaves out the slow ones that run Airflow or whole pipelines.
test-fast: lint
	$(BIN)/python -m pytest $(PYTEST_PARALLEL) -m "not slow"

# DATA=path.csv segments another census file; the default is the bundled synthetic sample.
# CONF='{"k": 9, "force": true}' is the run's trigger conf, checked as a UI trigger checks it before anything starts.
# Both reach run_local.py through the environment, so no character of them is ever parsed by a shell; and as
# typed, not expanded by make (`$(value …)`: a "$(shell …)" in them stays text).
override DATA := $(value DATA)
override CONF := $(value CONF)
export DATA CONF
run: install
	$(BIN)/python scripts/run_local.py

# The real Airflow UI on http://127.0.0.1:$(PORT) against the emulator, no Docker; prints the login. Ctrl-C stops it.
# DATA=path.csv also uploads your census file (to census/<its name>, beside the bundled sample).
# EXECUTOR=celery: a CeleryExecutor with two workers on a private Postgres and Redis (Debian's postgresql, redis-server).
PORT ?= 8080
EXECUTOR ?= local
airflow: install
	$(BIN)/python scripts/local_airflow.py --port $(PORT) --executor $(EXECUTOR)

# While `make airflow` runs: upload DATA=path.csv to census/<its name> (KEY=census/other.csv to choose the key).
export KEY
upload: install
	@test -n "$$DATA" || { echo "usage: make upload DATA=path/to/census.csv [KEY=census/name.csv]" >&2; exit 2; }
	$(BIN)/python scripts/seed_emulator.py --data "$$DATA" $${KEY:+--key "$$KEY"}

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache airflow_home output popseg.egg-info
