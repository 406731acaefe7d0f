"""A migrated Airflow metadata DB, the emulator as the AWS connection, and the DAG, for DAG tests."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

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


def http_get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@contextlib.contextmanager
def running_api_server(aws_env: dict, log_dir: Path, **extra_env: str) -> Iterator[str]:
    """A real `airflow api-server` on a free loopback port (all users admin); yields its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ, **aws_env, "PYTHONPATH": str(PROJECT_ROOT),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True", **extra_env,
    }  # fmt: skip
    with (log_dir / "api-server.log").open("w") as log:
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "airflow"), "api-server", "--host", "127.0.0.1", "--port", str(port)],
            stdout=log, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(240):
                with contextlib.suppress(OSError):
                    if http_get(f"{base}/api/v2/version")[0] == 200:
                        break
                time.sleep(0.5)
            yield base
        finally:
            server.terminate()
            server.wait(timeout=30)
