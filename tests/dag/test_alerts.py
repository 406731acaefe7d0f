"""Alerts through the emulator's SNS: a run past its deadline publishes to the deployment's topic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest

from include.airflow_popseg import alerts
from include.airflow_popseg.settings import DAG_ID, DEADLINE_HOURS
from tests.support.deadlines import delete_run, run_missed_deadline_callbacks, scheduled_run, sync_dags_to_db
from tests.support.sns_topic import SubscribedTopic


@pytest.fixture
def topic(emulator, aws_env, monkeypatch) -> SubscribedTopic:
    subscribed = SubscribedTopic.create(emulator.endpoint_url)
    monkeypatch.setenv(f"AIRFLOW_VAR_{alerts.TOPIC_VARIABLE.upper()}", subscribed.arn)
    return subscribed


def test_every_task_alerts_on_failure_and_the_run_on_success_and_past_its_deadline(dag) -> None:
    assert all(task.on_failure_callback == [alerts.on_task_failure] for task in dag.tasks)
    assert dag.on_success_callback == alerts.on_run_success
    [deadline] = dag.deadline
    assert deadline == alerts.deadline_alert(DEADLINE_HOURS)


def test_a_nightly_run_not_done_by_its_deadline_publishes_it_to_the_topic(dag, airflow_db, topic) -> None:
    sync_dags_to_db()
    logical_date = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=DEADLINE_HOURS, minutes=5)
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
