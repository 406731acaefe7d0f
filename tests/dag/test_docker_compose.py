"""docker-compose.yaml, checked without a Docker engine: the deployment it describes is whole and points
at things that exist."""

from __future__ import annotations

import importlib.util
import json
import re

import pytest
import yaml

from tests.conftest import PROJECT_ROOT

AIRFLOW_SERVICES = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((PROJECT_ROOT / "docker-compose.yaml").read_text())


def test_the_deployment_has_every_airflow_3_component_postgres_and_the_emulator(compose) -> None:
    assert set(compose["services"]) == {"postgres", "emulator", "airflow-init", *AIRFLOW_SERVICES}


def test_airflow_services_run_their_component_with_the_local_executor_on_postgres(compose) -> None:
    for name, command in AIRFLOW_SERVICES.items():
        service = compose["services"][name]
        assert service["command"] == command
        assert service["environment"]["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
        assert service["environment"]["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://")


def test_the_image_is_airflow_3_3_2_with_our_pinned_requirements(compose) -> None:
    service = compose["services"]["airflow-scheduler"]
    assert service["image"] == "popseg-airflow:3.3.2"
    dockerfile = (PROJECT_ROOT / service["build"]["dockerfile"]).read_text()
    assert re.search(r"^FROM apache/airflow:3\.3\.2(-python3\.11)?$", dockerfile, re.MULTILINE)
    assert "requirements.txt" in dockerfile
    assert "apache-airflow==3.3.2" in (PROJECT_ROOT / "requirements.txt").read_text()


def test_long_running_services_have_healthchecks(compose) -> None:
    for name, service in compose["services"].items():
        if name != "airflow-init":
            assert service.get("healthcheck", {}).get("test"), name


def test_dags_include_and_plugins_are_mounted_from_the_project(compose) -> None:
    for name in AIRFLOW_SERVICES:
        mounts = dict(volume.split(":")[:2] for volume in compose["services"][name]["volumes"])
        for folder in ("dags", "include", "plugins"):
            assert mounts[f"./{folder}"] == f"/opt/airflow/{folder}"
            assert (PROJECT_ROOT / folder).is_dir()


def test_commands_point_at_modules_and_scripts_that_exist(compose) -> None:
    emulator = compose["services"]["emulator"]
    assert emulator["entrypoint"][:2] == ["python", "-m"]
    assert importlib.util.find_spec(emulator["entrypoint"][2]) is not None
    init = " ".join(compose["services"]["airflow-init"]["command"])
    for script in re.findall(r"/opt/airflow/(scripts/\S+\.py)", init):
        assert (PROJECT_ROOT / script).is_file()
    assert "airflow db migrate" in init


def test_the_aws_connection_points_at_the_emulator_service_with_dummy_keys(compose) -> None:
    environment = compose["services"]["airflow-scheduler"]["environment"]
    connection = json.loads(environment["AIRFLOW_CONN_AWS_DEFAULT"])
    assert connection["extra"]["endpoint_url"] == "http://emulator:4566"
    assert connection["login"] == "testing"
    assert "4566" in compose["services"]["emulator"]["command"]
    assert environment["PYTHONPATH"] == "/opt/airflow"


def test_ports_are_published_on_loopback_only(compose) -> None:
    for service in compose["services"].values():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:")
