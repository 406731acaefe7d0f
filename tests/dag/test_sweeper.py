"""The sweeper against the emulator: a run killed (SIGKILL) once its PCA endpoint is InService leaves an
endpoint that bills forever; a sweep leaves none of it, and a dry run reports the same and changes nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from include.segmentation.synthetic import synthetic_census
from include.segmentation_aws.layout import RUN_ID_MARKER, work_root
from include.segmentation_aws.names import RunNames
from tests.support.airflow_db import task_xcom
from tests.support.paths import PROJECT_ROOT

pytestmark = pytest.mark.slow
OUTPUT_PREFIX = "segmentation"


def _marker(s3, bucket: str) -> tuple[str, str] | None:
    """(token, run id) from the run's work/<token>/run-id marker, once preprocess wrote it."""
    for item in s3.list_objects_v2(Bucket=bucket, Prefix=work_root(OUTPUT_PREFIX)).get("Contents", []):
        if item["Key"].endswith("/" + RUN_ID_MARKER):
            run_id = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read().decode()
            return RunNames.for_run(run_id).token, run_id
    return None


def _status(sagemaker, endpoint: str) -> str | None:
    try:
        return sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointStatus"]
    except ClientError:
        return None


@pytest.fixture(scope="module")
def killed_run(airflow_db, aws_env, clients, tmp_path_factory) -> dict:
    """`airflow dags test population_segmentation` in its own process group, SIGKILLed as soon as the PCA
    endpoint is InService: its teardown never runs. Returns the bucket, token and run id."""
    s3, sagemaker = clients["s3"], clients["sagemaker"]
    bucket = f"popseg-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="census/census.csv", Body=synthetic_census(400).to_csv(index=False).encode())
    conf = {"bucket": bucket, "input_key": "census/census.csv", "output_prefix": OUTPUT_PREFIX}
    log_path = tmp_path_factory.mktemp("killed") / "dags-test.log"
    with Path(log_path).open("w") as log:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "airflow"), "dags", "test", "population_segmentation",
             "-c", json.dumps(conf)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **aws_env, "PYTHONPATH": str(PROJECT_ROOT)},
            start_new_session=True,  # its own process group: the kill takes every child with it
        )  # fmt: skip
    try:
        found, deadline = None, time.monotonic() + 600
        while time.monotonic() < deadline and process.poll() is None:
            found = found or _marker(s3, bucket)
            if found and _status(sagemaker, RunNames(found[0]).endpoint("pca")) == "InService":
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"the PCA endpoint never came InService; see {log_path}:\n{log_path.read_text()[-3000:]}")
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
    token, run_id = found
    assert _status(sagemaker, RunNames(token).endpoint("pca")) == "InService"  # left running, billed
    return {"bucket": bucket, "token": token, "run_id": run_id}


def _left(sagemaker, token: str) -> dict[str, list[str]]:
    """This run's SageMaker resources that still exist (training jobs: those still in progress)."""
    return {
        "endpoints": [e["EndpointName"] for e in sagemaker.list_endpoints(NameContains=token)["Endpoints"]],
        "configs": [
            c["EndpointConfigName"] for c in sagemaker.list_endpoint_configs(NameContains=token)["EndpointConfigs"]
        ],
        "models": [m["ModelName"] for m in sagemaker.list_models(NameContains=token)["Models"]],
        "training": [
            j["TrainingJobName"]
            for j in sagemaker.list_training_jobs(NameContains=token, StatusEquals="InProgress")["TrainingJobSummaries"]
        ],
    }


# Every param on every call: dag.test() keeps a previous call's conf values for keys a later call omits.
DEFAULTS = {"dry_run": False, "ttl_hours": 24, "keep_succeeded_days": 1, "keep_failed_days": 3}


def _sweep(sweeper_dag, bucket: str, **params) -> tuple[str, dict]:
    conf = {**DEFAULTS, "bucket": bucket, "output_prefix": OUTPUT_PREFIX, **params}
    run = sweeper_dag.test(run_conf=conf)
    return run.state, task_xcom(run, "sweep")


def _ours(summary: dict, token: str) -> dict[tuple[str, str], str]:
    """(kind, name) -> action, for the items of the killed run."""
    return {(i["kind"], i["name"]): i["action"] for i in summary["items"] if token in i["name"]}


def test_the_killed_runs_resources_are_kept_while_it_shows_running(sweeper_dag, killed_run, clients) -> None:
    """Under the default TTL the killed run still shows running in Airflow: nothing of it is touched."""
    state, summary = _sweep(sweeper_dag, killed_run["bucket"], dry_run=True)
    assert state == "success"
    kept = [i for i in summary["items"] if killed_run["token"] in i["name"]]
    assert kept and {i["action"] for i in kept} == {"keep"}
    assert any(i["reason"] == f"run {killed_run['run_id']} is running" for i in kept)


def test_a_dry_run_reports_what_it_would_sweep_and_deletes_nothing(sweeper_dag, killed_run, clients) -> None:
    before = _left(clients["sagemaker"], killed_run["token"])
    state, summary = _sweep(sweeper_dag, killed_run["bucket"], dry_run=True, ttl_hours=0)
    assert state == "success" and summary["dry_run"] is True
    ours = _ours(summary, killed_run["token"])
    endpoint = RunNames(killed_run["token"]).endpoint("pca")
    assert ours[("endpoint", endpoint)] == ours[("endpoint-config", endpoint)] == "delete"
    assert _left(clients["sagemaker"], killed_run["token"]) == before


def test_without_the_deployments_opt_in_a_sweep_is_a_dry_run(sweeper_dag, killed_run, clients, monkeypatch) -> None:
    """A scheduled run (or one that the trigger form's "unpause" started) has dry_run false: without
    [popseg] sweeper_deletes it still changes nothing."""
    monkeypatch.delenv("AIRFLOW__POPSEG__SWEEPER_DELETES", raising=False)
    before = _left(clients["sagemaker"], killed_run["token"])
    state, summary = _sweep(sweeper_dag, killed_run["bucket"], dry_run=False, ttl_hours=0)
    assert state == "success" and summary["dry_run"] is True
    endpoint = RunNames(killed_run["token"]).endpoint("pca")
    assert _ours(summary, killed_run["token"])[("endpoint", endpoint)] == "delete"  # what it would do
    assert _left(clients["sagemaker"], killed_run["token"]) == before


def test_a_sweep_leaves_nothing_of_the_killed_run_billing(sweeper_dag, killed_run, clients, monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW__POPSEG__SWEEPER_DELETES", "true")
    sagemaker = clients["sagemaker"]
    _, dry = _sweep(sweeper_dag, killed_run["bucket"], dry_run=True, ttl_hours=0)
    state, summary = _sweep(sweeper_dag, killed_run["bucket"], ttl_hours=0)
    assert state == "success" and summary["dry_run"] is False
    assert _ours(summary, killed_run["token"]) == _ours(dry, killed_run["token"])  # did what the dry run said
    assert _left(sagemaker, killed_run["token"]) == {"endpoints": [], "configs": [], "models": [], "training": []}
    # Its intermediates are younger than keep_failed_days: kept for inspection, with the reason.
    work = [i for i in summary["items"] if i["kind"] == "work" and killed_run["token"] in i["name"]]
    assert [i["action"] for i in work] == ["keep"] and "keep_failed_days=3" in work[0]["reason"]
    _, again = _sweep(sweeper_dag, killed_run["bucket"], ttl_hours=0, keep_failed_days=0)
    assert _ours(again, killed_run["token"]) == {("work", work[0]["name"]): "delete"}
    listed = clients["s3"].list_objects_v2(Bucket=killed_run["bucket"], Prefix=work[0]["name"])
    assert listed["KeyCount"] == 0
