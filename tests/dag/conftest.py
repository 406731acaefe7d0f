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

from aws_emulator.connection import connection_env
from tests.conftest import PROJECT_ROOT


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


def task_xcom(run, task_id: str):
    """The return value of `task_id` in `run` (a DagRun from dag.test()), as the next task would pull it."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        value = session.scalar(
            select(XComModel.value).where(
                XComModel.dag_id == run.dag_id,
                XComModel.run_id == run.run_id,
                XComModel.task_id == task_id,
                XComModel.key == "return_value",
            )
        )
    return json.loads(value) if isinstance(value, str) else value  # plain JSON: dicts, lists, str, numbers


def http_get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    status, _, body = http_response(url, headers)
    return status, body


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs) -> None:
        return None  # the redirect itself is the answer


def http_response(
    url: str, headers: dict[str, str] | None = None, follow: bool = True, timeout: float = 10
) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of a GET, also for error statuses; `follow=False` answers a redirect itself.
    Header names as the api-server sends them: lower case."""
    opener = urllib.request.build_opener() if follow else urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(urllib.request.Request(url, headers=headers or {}), timeout=timeout) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


# Users of the api-server tests: a viewer (read access to every DAG) and a user with no role, who can
# authenticate but may read nothing. Their passwords are the user names.
API_USERS = {"viewer": "viewer", "nobody": ""}


@contextlib.contextmanager
def running_api_server(aws_env: dict, log_dir: Path, **extra_env: str) -> Iterator[str]:
    """A real `airflow api-server` on a free loopback port with the API_USERS; yields its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    passwords = log_dir / "passwords.json"
    passwords.write_text(json.dumps({user: user for user in API_USERS}))
    env = {
        **os.environ,
        **aws_env,
        "PYTHONPATH": str(PROJECT_ROOT),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{u}:{r}" for u, r in API_USERS.items()),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        **extra_env,
    }
    with (log_dir / "api-server.log").open("w") as log:
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "airflow"), "api-server", "--host", "127.0.0.1", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
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


def api_token(base: str, user: str) -> str:
    """A JWT for one of the API_USERS, from the simple auth manager's token endpoint."""
    request = urllib.request.Request(
        f"{base}/auth/token",
        data=json.dumps({"username": user, "password": user}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())["access_token"]


def record_publication(summary: dict, run_id: str | None = None, task_id: str = "publish") -> None:
    """An Asset event on the results asset as the publish task of `run_id` records it (a planted run)."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        asset = session.scalar(select(AssetModel).where(AssetModel.name == "population_segmentation_results"))
        if asset is None:
            asset = AssetModel(name="population_segmentation_results", uri="popseg://population_segmentation/latest")
            session.add(asset)
            session.flush()
        event = AssetEvent(
            asset_id=asset.id,
            extra=summary,
            source_dag_id="population_segmentation",
            source_task_id=task_id,
            source_run_id=run_id or summary["run_id"],
        )
        session.add(event)
