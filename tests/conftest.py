"""The session's Airflow settings, and the fixtures every suite shares: the real census and one emulator."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.paths import PROJECT_ROOT, shared_path

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
# No deadline in the session's DAG: Airflow 3.3.2's dag.test() cannot finish a succeeded run of a DAG with a
# DeadlineAlert (DagRun.update_state looks the DAG's alerts up by id, and dag.test()'s deserialized DAG holds
# each alert's dict instead: AttributeError 'dict' object has no attribute 'hex'). tests/dag/test_alerts.py
# parses the DAG with a deadline in a process of its own.
os.environ["AIRFLOW__POPSEG__DEADLINE_HOURS"] = "0"


# The modules that take longest (minutes, on a loaded 2-core machine: `--durations`), longest first: a module
# with few tests can still be long (a Celery Airflow's start-up, a fresh virtualenv), so they are named.
LONGEST_MODULES = (
    "tests/dag/test_faults.py",  # 75 whole-DAG runs
    "tests/dag/test_celery_executor.py",  # Postgres, Redis, two workers and two runs
    "tests/dag/test_segmentation_plugin.py",  # an api-server per test
    "tests/dag/test_nightly_runs.py",
    "tests/dag/test_browser_segmentation_view.py",
    "tests/dag/test_make_airflow.py",
    "tests/dag/test_iam_policy.py",
    "tests/dag/test_reattach.py",
    "tests/dag/test_deploy_boundary.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In a pytest-xdist worker (`make test`), the longest modules first: LONGEST_MODULES, then the modules with
    the most slow tests.

    `--dist loadscope --no-loadscope-reorder` hands each worker whole modules in this order: the long ones
    (whole-DAG runs, Airflow servers) start at once and the last modules handed out are short, so neither worker
    waits long for the other at the end. Every worker orders the same collection the same way, as xdist requires.
    A run in one process keeps the files' order."""
    if not hasattr(config, "workerinput"):
        return
    module = {item: item.nodeid.rsplit("::", 1)[0] for item in items}  # loadscope's unit of work
    slow = Counter(module[item] for item in items if item.get_closest_marker("slow"))
    size = Counter(module.values())
    named = {name: place for place, name in enumerate(LONGEST_MODULES)}

    def order(item: pytest.Item) -> tuple[int, int, int]:
        return named.get(module[item], len(named)), -slow[module[item]], -size[module[item]]

    items.sort(key=order)  # stable: a module's own order stays


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
