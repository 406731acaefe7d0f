"""Retries never pay twice: a cleared run, or a run whose process was killed while its training job ran,
reattaches to the jobs it started. Exactly one training job per algorithm per run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime

import pytest

from aws_emulator.connection import client, connection_env
from aws_emulator.server import running_emulator
from include.segmentation.synthetic import synthetic_census
from include.segmentation_aws.names import RunNames
from tests.support.paths import PROJECT_ROOT
from tests.support.sagemaker_requests import PCA_IMAGE, create_model_and_config

pytestmark = pytest.mark.slow


def _census_bucket(s3) -> str:
    bucket = f"popseg-reattach-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="census/census.csv", Body=synthetic_census(400).to_csv(index=False).encode())
    return bucket


def _conf(bucket: str) -> dict:
    return {"bucket": bucket, "input_key": "census/census.csv", "output_prefix": "segmentation"}


def _jobs(sagemaker, token: str) -> list[str]:
    summaries = sagemaker.list_training_jobs(NameContains=token, MaxResults=100)["TrainingJobSummaries"]
    return sorted(job["TrainingJobName"] for job in summaries)


def _logical_date() -> datetime:
    return datetime(2026, 1, 1, 3, 0, uuid.uuid4().int % 60, tzinfo=UTC).replace(microsecond=uuid.uuid4().int % 10**6)


def test_clearing_a_finished_run_reattaches_to_its_training_jobs(dag, airflow_db, clients) -> None:
    bucket, when = _census_bucket(clients["s3"]), _logical_date()
    first = dag.test(logical_date=when, run_after=when, run_conf=_conf(bucket))
    assert first.state == "success"
    token = RunNames.for_run(first.run_id).token
    jobs = _jobs(clients["sagemaker"], token)
    again = dag.test(
        logical_date=when, run_after=when, run_conf=_conf(bucket)
    )  # clears every task of the run and runs it again
    assert again.run_id == first.run_id and again.state == "success"
    assert _jobs(clients["sagemaker"], token) == jobs == [f"popseg-kmeans-{token}", f"popseg-pca-{token}"]


def test_a_run_killed_while_training_reattaches_when_run_again(dag, airflow_db, aws_env, clients) -> None:
    sagemaker, bucket, when = clients["sagemaker"], _census_bucket(clients["s3"]), _logical_date()
    script = (
        "import datetime, sys; from airflow.dag_processing.dagbag import DagBag; "
        f"when = datetime.datetime.fromisoformat({when.isoformat()!r}); "
        "dag = DagBag(dag_folder=sys.argv[1]).dags['population_segmentation']; "
        f"dag.test(logical_date=when, run_after=when, run_conf={_conf(bucket)!r})"
    )
    run = subprocess.Popen(
        [sys.executable, "-c", script, str(PROJECT_ROOT / "dags")],
        env={**os.environ, **aws_env, "PYTHONPATH": str(PROJECT_ROOT)}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    token = None
    try:
        deadline = time.monotonic() + 240
        while token is None and time.monotonic() < deadline:
            found = [j for j in _jobs(sagemaker, "popseg-pca-") if j.endswith(_token_suffix(when))]
            token = found[0].removeprefix("popseg-pca-") if found else None
            time.sleep(0.2)
        assert token, "the run never started its PCA training job"
    finally:
        os.killpg(run.pid, signal.SIGKILL)  # the worker dies with the job started and the task waiting on it
        run.wait()
    again = dag.test(logical_date=when, run_after=when, run_conf=_conf(bucket))
    assert again.state == "success", {ti.task_id: ti.state for ti in again.get_task_instances()}
    assert RunNames.for_run(again.run_id).token == token
    assert _jobs(sagemaker, token) == [f"popseg-kmeans-{token}", f"popseg-pca-{token}"]


def _token_suffix(when: datetime) -> str:
    """The token of the manual run at `when` (Airflow names it manual__<run_after>)."""
    return RunNames.for_run(f"manual__{when.isoformat()}").token


def _input_of(s3, bucket: str, run) -> dict:
    import json

    return json.loads(s3.get_object(Bucket=bucket, Key=f"segmentation/runs/{run.run_id}/run.json")["Body"].read())


def test_a_cleared_run_reads_the_census_version_it_first_read(dag, airflow_db, clients) -> None:
    s3 = clients["s3"]
    bucket, when = _census_bucket(s3), _logical_date()
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=bucket, Key="census/census.csv", Body=synthetic_census(400).to_csv(index=False).encode())
    first = dag.test(logical_date=when, run_after=when, run_conf=_conf(bucket))
    read_first = _input_of(s3, bucket, first)
    assert first.state == "success" and read_first["input_version_id"] and read_first["input_etag"]
    s3.put_object(Bucket=bucket, Key="census/census.csv", Body=synthetic_census(300).to_csv(index=False).encode())
    again = dag.test(logical_date=when, run_after=when, run_conf=_conf(bucket))  # the next night's file landed
    assert again.state == "success"
    read_again = _input_of(s3, bucket, again)
    assert (read_again["input_version_id"], read_again["rows_in"]) == (read_first["input_version_id"], 400)
    assert read_again["input_sha256"] == read_first["input_sha256"]


def test_a_cleared_run_refuses_a_changed_census_when_the_bucket_keeps_no_versions(
    dag, airflow_db, clients, capfd
) -> None:
    s3 = clients["s3"]
    bucket, when = _census_bucket(s3), _logical_date()
    assert dag.test(logical_date=when, run_after=when, run_conf=_conf(bucket)).state == "success"
    s3.put_object(Bucket=bucket, Key="census/census.csv", Body=synthetic_census(300).to_csv(index=False).encode())
    again = dag.test(logical_date=when, run_after=when, run_conf=_conf(bucket))
    states = {ti.task_id: ti.state for ti in again.get_task_instances()}
    assert again.state == "failed" and states["preprocess"] == "failed" and states["train_pca"] == "upstream_failed"
    assert "has changed since this run first read it" in "".join(capfd.readouterr())


def test_run_json_times_are_iso_8601_utc(dag, airflow_db, clients) -> None:
    s3 = clients["s3"]
    bucket, when = _census_bucket(s3), _logical_date()
    run = dag.test(logical_date=when, run_after=when, run_conf=_conf(bucket))
    for job in _input_of(s3, bucket, run)["training_jobs"].values():
        for field in ("training_start", "training_end"):
            assert datetime.fromisoformat(job[field]).utcoffset().total_seconds() == 0, job[field]


def test_a_retried_deploy_that_finds_its_endpoint_creating_waits_deferred(monkeypatch) -> None:
    from airflow.sdk.exceptions import TaskDeferred

    from include.airflow_popseg.operators import ReattachingEndpointOperator

    name = f"popseg-pca-{uuid.uuid4().hex[:12]}"
    config = {"Endpoint": {"EndpointName": name, "EndpointConfigName": name}}
    with running_emulator(latency="aws:10") as emulator:  # Creating: 37 s or more
        for key, value in connection_env(emulator.endpoint_url).items():
            monkeypatch.setenv(key, value)
        sagemaker = client("sagemaker", emulator.endpoint_url)
        create_model_and_config(sagemaker, name, PCA_IMAGE, "s3://popseg/models/absent/model.tar.gz")
        sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)  # the first try's, still Creating
        operator = ReattachingEndpointOperator(task_id="deploy_pca", config=config, deferrable=True, check_interval=1)
        with pytest.raises(TaskDeferred) as deferred:
            operator.execute({})
        assert sagemaker.describe_endpoint(EndpointName=name)["EndpointStatus"] == "Creating"
    trigger = deferred.value.trigger
    assert (type(trigger).__name__, trigger.job_name, trigger.job_type) == ("SageMakerTrigger", name, "endpoint")
    assert deferred.value.method_name == "execute_complete"
