"""A migrated Airflow metadata DB, the emulator as the AWS connection, and the DAG, for DAG tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import boto3
import pytest

from aws_emulator.connection import connection_env
from tests.support.aws_operations import record_operations
from tests.support.paths import PROJECT_ROOT


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """`airflow db migrate` into the session's AIRFLOW_HOME (SQLite)."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )


@pytest.fixture(scope="session")
def aws_env(emulator) -> Iterator[dict]:
    """The DAG's AWS connection and role, pointing at the emulator, through environment variables."""
    values = connection_env(emulator.endpoint_url)
    monkeypatch = pytest.MonkeyPatch()
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    yield values
    monkeypatch.undo()


@pytest.fixture(scope="session")
def clients(emulator, aws_env) -> dict:
    return {
        service: boto3.client(service, endpoint_url=emulator.endpoint_url, region_name="us-east-1")
        for service in ("s3", "sagemaker")
    }


@pytest.fixture(scope="session")
def dag():
    """The DAG as Airflow's DagBag parses it from dags/."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags"))
    assert not bag.import_errors, bag.import_errors
    return _as_parsed(bag.dags["population_segmentation"])


@pytest.fixture(scope="session")
def sweeper_dag():
    """The sweeper DAG as Airflow's DagBag parses it from dags/."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags"))
    assert not bag.import_errors, bag.import_errors
    return _as_parsed(bag.dags["popseg_sweeper"])


_PARSED: dict[int, list] = {}  # id(dag) -> every Param object of the DAG and its tasks, with its state as parsed


def _as_parsed(dag):
    """Record the params of `dag` and of each of its tasks as parsed, for _params_reset_after_each_test."""
    _PARSED[id(dag)] = [
        (param, dict(vars(param)))
        for params in (dag.params, *(task.params for task in dag.tasks))
        for param in (params.get_param(name) for name in params)
    ]
    return dag


@pytest.fixture
def aws_calls(monkeypatch) -> list[str]:
    """The operation name of every AWS API call made in this process during the test, in order."""
    return record_operations(monkeypatch)


@pytest.fixture(autouse=True)
def _params_reset_after_each_test(request) -> Iterator[None]:
    """dag.test() runs every task in this process, and Airflow's `process_params` writes a run's conf into the
    task's own Param objects (task.params), so that one test's `{"k": 30}` would be the next test's default.
    A deployment runs each task in a fresh process; here each test leaves the params as parsed (module-scoped
    fixtures that run the DAG run before this one is set up: hence the state recorded at parse time)."""
    dags = [request.getfixturevalue(name) for name in ("dag", "sweeper_dag") if name in request.fixturenames]
    yield
    for dag in dags:
        for param, state in _PARSED[id(dag)]:
            vars(param).clear()
            vars(param).update(state)
