"""A migrated Airflow metadata DB, the emulator as the AWS connection, and the DAG, for DAG tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import boto3
import pytest

from include.aws_emulator.server import Emulator, running_emulator
from tests.conftest import PROJECT_ROOT

ROLE = "arn:aws:iam::123456789012:role/popseg-sagemaker"


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """`airflow db migrate` into the session's AIRFLOW_HOME (SQLite)."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True, capture_output=True, env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )  # fmt: skip


@pytest.fixture(scope="session")
def dag_emulator() -> Iterator[Emulator]:
    with running_emulator(transition_seconds=0.3) as emulator:
        yield emulator


@pytest.fixture(scope="session")
def aws_env(dag_emulator) -> Iterator[dict]:
    """The DAG's AWS connection and role, pointing at the emulator, through environment variables."""
    connection = {
        "conn_type": "aws",
        "login": "testing",
        "password": "testing",
        "extra": {"endpoint_url": dag_emulator.endpoint_url, "region_name": "us-east-1"},
    }
    values = {
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(connection),
        "AIRFLOW_VAR_POPSEG_ROLE_ARN": ROLE,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    monkeypatch = pytest.MonkeyPatch()
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    yield values
    monkeypatch.undo()


@pytest.fixture(scope="session")
def clients(dag_emulator, aws_env) -> dict:
    return {
        service: boto3.client(service, endpoint_url=dag_emulator.endpoint_url, region_name="us-east-1")
        for service in ("s3", "sagemaker")
    }


@pytest.fixture(scope="session")
def dag():
    """The DAG as Airflow's DagBag parses it from dags/."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags"))
    assert not bag.import_errors, bag.import_errors
    return bag.dags["population_segmentation"]
