"""A migrated Airflow metadata DB, the emulator as the AWS connection, and the DAG, for DAG tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import boto3
import pytest

from aws_emulator.connection import connection_env
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
    return bag.dags["population_segmentation"]


@pytest.fixture(scope="session")
def sweeper_dag():
    """The sweeper DAG as Airflow's DagBag parses it from dags/."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags"))
    assert not bag.import_errors, bag.import_errors
    return bag.dags["popseg_sweeper"]


@pytest.fixture
def aws_calls(monkeypatch) -> list[str]:
    """The operation name of every AWS API call made in this process during the test, in order."""
    import botocore.client

    calls: list[str] = []
    real_call = botocore.client.BaseClient._make_api_call
    monkeypatch.setattr(
        botocore.client.BaseClient,
        "_make_api_call",
        lambda client, operation, params: calls.append(operation) or real_call(client, operation, params),
    )
    return calls
