"""The DAG on a distributed Airflow: CeleryExecutor, Postgres, Redis, two workers that share nothing but the
metadata DB and S3 (each its own hostname and temporary folder), the real scheduler, dag-processor, triggerer
and api-server, and the emulator. One start-up serves both runs: the scheduled run unpausing creates, then a
forced retrain during which a worker is killed."""

from __future__ import annotations

import time

import pytest

from aws_emulator.connection import client
from include.airflow_popseg.settings import DAG_ID
from include.segmentation_aws.names import RunNames
from scripts import celery_services
from tests.support.celery_airflow import CeleryAirflow, celery_airflow

# Each test runs a whole DAG run (≈ 5 min on a busy 2-core machine) and the first also starts everything
# (≈ 1 min): more than the suite's 10-minute default leaves under load.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

TRAINING_TASKS = ("train_pca", "train_kmeans")
KILL_WINDOW_SECONDS = 600  # a training task of the run is running, and its job exists, well within this


@pytest.fixture(scope="module")
def airflow() -> CeleryAirflow:
    with celery_airflow() as started:
        yield started


def _training_jobs(airflow: CeleryAirflow, run_id: str) -> list[str]:
    token = RunNames.for_run(run_id).token
    summaries = client("sagemaker", airflow.emulator_url).list_training_jobs(NameContains=token, MaxResults=100)[
        "TrainingJobSummaries"
    ]
    return sorted(job["TrainingJobName"] for job in summaries)


def test_a_run_succeeds_with_its_tasks_spread_over_both_workers(airflow) -> None:
    airflow.api("PATCH", f"/api/v2/dags/{DAG_ID}", {"is_paused": False})  # schedules the latest interval now
    deadline = time.monotonic() + 120
    while not (runs := airflow.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns")["dag_runs"]):
        assert time.monotonic() < deadline, "unpausing scheduled no run"
        time.sleep(1)
    run = airflow.run_when_finished(runs[0]["dag_run_id"])
    assert run["state"] == "success", run
    executed = [ti for ti in airflow.task_instances(run["dag_run_id"]) if ti["hostname"]]
    assert {ti["hostname"] for ti in executed} == set(celery_services.WORKERS), executed
    assert {ti["queue"] for ti in executed} == {"default"}
    assert _training_jobs(airflow, run["dag_run_id"]) == [
        f"popseg-kmeans-{RunNames.for_run(run['dag_run_id']).token}",
        f"popseg-pca-{RunNames.for_run(run['dag_run_id']).token}",
    ]


def _training_task_running_after_its_job_started(airflow: CeleryAirflow, run_id: str) -> dict:
    """The first training task instance seen running on a worker once its SageMaker job exists."""
    token = RunNames.for_run(run_id).token
    deadline = time.monotonic() + KILL_WINDOW_SECONDS
    while time.monotonic() < deadline:
        for ti in airflow.task_instances(run_id):
            if ti["task_id"] in TRAINING_TASKS and ti["state"] == "running" and ti["hostname"] in airflow.workers:
                algorithm = ti["task_id"].removeprefix("train_")
                if f"popseg-{algorithm}-{token}" in _training_jobs(airflow, run_id):
                    return ti
        time.sleep(0.1)
    raise AssertionError(f"no training task of {run_id} was seen running after its job started")


def test_a_run_whose_worker_is_killed_mid_task_retries_it_on_the_other_and_trains_once(airflow) -> None:
    triggered = airflow.api("POST", f"/api/v2/dags/{DAG_ID}/dagRuns", {"logical_date": None, "conf": {"force": True}})
    run_id = triggered["dag_run_id"]
    victim = _training_task_running_after_its_job_started(airflow, run_id)
    airflow.kill_worker(victim["hostname"])
    (survivor,) = set(airflow.workers) - {victim["hostname"]}

    run = airflow.run_when_finished(run_id)
    assert run["state"] == "success", run
    retried = next(
        ti
        for ti in airflow.task_instances(run_id)
        if (ti["task_id"], ti["map_index"]) == (victim["task_id"], victim["map_index"])
    )
    assert retried["state"] == "success"
    assert retried["try_number"] > victim["try_number"]
    assert retried["hostname"] == survivor
    token = RunNames.for_run(run_id).token
    assert _training_jobs(airflow, run_id) == [f"popseg-kmeans-{token}", f"popseg-pca-{token}"]  # reattached
