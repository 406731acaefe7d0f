"""Alerts through the emulator's SNS: a run past its deadline publishes to the deployment's topic."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest

from include.airflow_popseg import alerts
from include.airflow_popseg.settings import DAG_ID
from tests.support.deadlines import delete_run, run_missed_deadline_callbacks, scheduled_run, sync_dags_to_db
from tests.support.paths import PROJECT_ROOT
from tests.support.sns_topic import SubscribedTopic


@pytest.fixture
def topic(emulator, aws_env, monkeypatch) -> SubscribedTopic:
    subscribed = SubscribedTopic.create(emulator.endpoint_url)
    monkeypatch.setenv(f"AIRFLOW_VAR_{alerts.TOPIC_VARIABLE.upper()}", subscribed.arn)
    return subscribed


def test_every_task_alerts_on_failure_and_the_run_on_success(dag) -> None:
    assert all(task.on_failure_callback == [alerts.on_task_failure] for task in dag.tasks)
    assert dag.on_success_callback == alerts.on_run_success


def _deadlines_parsed_with(hours: str) -> subprocess.CompletedProcess:
    script = (
        "from airflow.dag_processing.dagbag import DagBag\n"
        f"bag = DagBag(dag_folder={str(PROJECT_ROOT / 'dags')!r})\n"
        "print([alert.interval.total_seconds() for alert in bag.dags['population_segmentation'].deadline or []])\n"
    )
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "AIRFLOW__POPSEG__DEADLINE_HOURS": hours}
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)


def test_the_deadline_is_4_hours_after_the_logical_date_by_default() -> None:
    env = {k: v for k, v in os.environ.items() if k != "AIRFLOW__POPSEG__DEADLINE_HOURS"}
    script = "from include.airflow_popseg import settings; print(settings.DEADLINE_HOURS)"
    loaded = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env={**env, "PYTHONPATH": str(PROJECT_ROOT)}
    )
    assert loaded.returncode == 0 and loaded.stdout.strip().splitlines()[-1] == "4.0", loaded.stderr


def test_the_deadline_is_deadline_hours_after_the_logical_date() -> None:
    parsed = _deadlines_parsed_with("2.5")
    assert parsed.returncode == 0 and parsed.stdout.strip().splitlines()[-1] == "[9000.0]", parsed.stderr


def test_deadline_hours_0_sets_no_deadline() -> None:
    parsed = _deadlines_parsed_with("0")
    assert parsed.returncode == 0 and parsed.stdout.strip().splitlines()[-1] == "[]", parsed.stderr


@pytest.mark.parametrize("hours", ["-1", "169"])
def test_deadline_hours_outside_0_to_168_is_refused_when_the_settings_load(hours) -> None:
    loaded = subprocess.run(
        [sys.executable, "-c", "from include.airflow_popseg import settings"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "AIRFLOW__POPSEG__DEADLINE_HOURS": hours},
    )
    assert loaded.returncode != 0 and "[popseg] deadline_hours" in loaded.stderr and "must be 0 to 168" in loaded.stderr


def test_a_nightly_run_not_done_by_its_deadline_publishes_it_to_the_topic(dag, airflow_db, topic) -> None:
    sync_dags_to_db(deadline_hours="4")  # as deployed: the session's own DAG has no deadline (tests/conftest.py)
    logical_date = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=4, minutes=5)
    run_id = scheduled_run(DAG_ID, logical_date)
    try:
        payloads = run_missed_deadline_callbacks(DAG_ID, run_id)
    finally:
        delete_run(DAG_ID, run_id)

    assert [p["state"] for p in payloads] == ["running", "success"], payloads
    [published] = topic.messages()
    assert published["Subject"] == "[popseg] population_segmentation missed its deadline"
    assert f"run {run_id} is not done by its deadline" in published["Message"]
    assert f"/dags/population_segmentation/runs/{quote(run_id, safe='')}" in published["Message"]
