"""Shared test helpers: locating ../shared (golden fixtures and the real census) in place."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHARED = PROJECT_ROOT.parent / "shared"

# Airflow reads its configuration once, at first import: give the whole session one throw-away
# AIRFLOW_HOME (SQLite) with this project's dags/, before any test module imports Airflow.
os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="popseg-airflow-")
atexit.register(shutil.rmtree, os.environ["AIRFLOW_HOME"], ignore_errors=True)  # one per session, not one per run
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(PROJECT_ROOT / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(PROJECT_ROOT / "plugins")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__POPSEG__CHECK_INTERVAL"] = "1"
os.environ["AIRFLOW__POPSEG__RETRY_DELAY_SECONDS"] = "1"
os.environ["AIRFLOW__POPSEG__REATTACH_RETRY_DELAY_SECONDS"] = "1"
# The tests' deployment opted in to the sweeper's deletes; tests of the opt-in itself unset it.
os.environ["AIRFLOW__POPSEG__SWEEPER_DELETES"] = "true"
os.environ["AIRFLOW__POPSEG__TEARDOWN_TIMEOUT_SECONDS"] = "8"  # a delete that keeps failing fails in seconds


def shared_path(relative: str) -> Path:
    """Path of a file under ../shared, read in place and never copied.

    Skips the calling test when it is absent, except under CI=true where its absence is a failure.
    """
    path = SHARED / relative
    if not path.exists():
        reason = f"{path} is absent (../shared holds the golden fixtures and the real census)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


@pytest.fixture
def census_csv() -> Path:
    """The real ACS 2015 county census file (3,220 rows)."""
    return shared_path("data/census/acs2015_county_data.csv")


@pytest.fixture(scope="session")
def emulator() -> Iterator:
    """The local AWS on a free loopback port, one for the whole session (SageMaker transitions of 0.3 s).

    Tests share it: each uses its own buckets and names, and checks only what it made."""
    from aws_emulator.server import running_emulator

    with running_emulator(transition_seconds=0.3) as running:
        yield running
