"""The pieces `make airflow EXECUTOR=celery` and the CeleryExecutor test share (scripts/celery_services.py):
two workers on one machine look like two machines to Airflow."""

from __future__ import annotations

import socket

from scripts import celery_services


def test_a_worker_records_its_own_name_as_the_task_instances_hostname(monkeypatch) -> None:
    from airflow.sdk.api.client import get_hostname  # what the task runner sets ti.hostname from

    monkeypatch.setenv("AIRFLOW__CORE__HOSTNAME_CALLABLE", celery_services.HOSTNAME_CALLABLE)
    monkeypatch.setenv(celery_services.WORKER_HOSTNAME_VARIABLE, "worker-2")
    assert get_hostname() == "worker-2"


def test_without_a_worker_name_the_hostname_is_the_machines_as_airflows_default(monkeypatch) -> None:
    monkeypatch.delenv(celery_services.WORKER_HOSTNAME_VARIABLE, raising=False)
    assert celery_services.hostname() == socket.getfqdn()


def test_each_worker_has_its_own_name_and_temporary_folder(tmp_path) -> None:
    environments = [celery_services.worker_env(name, tmp_path) for name in celery_services.WORKERS]
    assert [env[celery_services.WORKER_HOSTNAME_VARIABLE] for env in environments] == ["worker-1", "worker-2"]
    folders = {env["TMPDIR"] for env in environments}
    assert len(folders) == 2 and all((tmp_path / name / "tmp").is_dir() for name in celery_services.WORKERS)


def test_workers_start_without_a_log_server_under_their_own_celery_node_name() -> None:
    arguments = celery_services.worker_arguments("worker-1")
    assert arguments[:2] == ["celery", "worker"]
    assert arguments[arguments.index("--celery-hostname") + 1] == "worker-1@%h"
    assert "--skip-serve-logs" in arguments
