"""Transform by batch: the `transform` param's batch path (dag.test() against the emulator) gives what the
endpoint path gives, without ever creating an endpoint, and cleans up its models."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from include.segmentation.synthetic import synthetic_census
from include.segmentation_aws import requests
from include.segmentation_aws.layout import latest_key, results_prefix
from include.segmentation_aws.names import RunNames
from tests.support.aws_operations import record_operations
from tests.support.paths import shared_path

pytestmark = pytest.mark.slow

KEY = "census/census.csv"
ENDPOINT_CALLS = ("CreateEndpointConfig", "CreateEndpoint", "InvokeEndpoint")
COMPARED = ("segments.csv", "centroids.csv", "segment_profiles.csv", "pca_components.csv", "explained_variance.json")


def _bucket(s3, census: bytes) -> str:
    bucket = f"popseg-batch-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key=KEY, Body=census)
    return bucket


def _conf(bucket: str, **params) -> dict:
    return {"bucket": bucket, "input_key": KEY, "output_prefix": "segmentation", **params}


def _published(s3, bucket: str, run_id: str, name: str) -> bytes:
    key = results_prefix("segmentation", run_id) + name
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def _states(run) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in run.get_task_instances()}


@pytest.fixture(scope="module")
def both_modes(dag, airflow_db, clients):
    """The real census through each path, each in a bucket of its own: {mode: (bucket, run, its AWS calls)}."""
    census = shared_path("data/census/acs2015_county_data.csv").read_bytes()
    done = {}
    for mode in ("endpoint", "batch"):
        bucket = _bucket(clients["s3"], census)
        with pytest.MonkeyPatch.context() as monkeypatch:
            calls = record_operations(monkeypatch)
            run = dag.test(run_conf=_conf(bucket, transform=mode))
        done[mode] = (bucket, run, calls)
    return done


def test_batch_mode_reproduces_the_endpoint_modes_results_on_the_real_census(both_modes, clients) -> None:
    s3 = clients["s3"]
    (endpoint_bucket, by_endpoint, _), (bucket, by_batch, _) = both_modes["endpoint"], both_modes["batch"]
    assert by_endpoint.state == "success" and by_batch.state == "success", _states(by_batch)
    document = json.loads(_published(s3, bucket, by_batch.run_id, "run.json"))
    assert (document["rows"], document["n_components"]) == (3218, 7)
    assert document["explained_variance"] == pytest.approx(0.8017, abs=0.0005)
    # Its cost counts each transform job from TransformStartTime to TransformEndTime per instance, and no endpoint.
    jobs = document["transform_jobs"]
    assert set(jobs) == {"pca", "kmeans"} and document["endpoint_lifetimes"] == {}
    transforms = [item for item in document["cost"]["items"] if item["kind"] == "transform"]
    assert [item["name"] for item in transforms] == [jobs["pca"]["transform_job"], jobs["kmeans"]["transform_job"]]
    for item, job in zip(transforms, jobs.values(), strict=True):
        seconds = (datetime.fromisoformat(job["end"]) - datetime.fromisoformat(job["start"])).total_seconds()
        assert item["instance_seconds"] == pytest.approx(seconds * job["instance_count"])
    assert {item["kind"] for item in document["cost"]["items"]} == {"training", "transform"}
    for name in COMPARED:  # byte for byte: the same components, segments, distances and profiles
        assert _published(s3, bucket, by_batch.run_id, name) == _published(
            s3, endpoint_bucket, by_endpoint.run_id, name
        ), name
    assert (
        json.loads(s3.get_object(Bucket=bucket, Key=latest_key("segmentation"))["Body"].read())["run_id"]
        == by_batch.run_id
    )


def test_batch_mode_creates_no_endpoint_and_the_graph_shows_the_path_that_ran(both_modes) -> None:
    _, run, calls = both_modes["batch"]
    assert not [call for call in calls if call in ENDPOINT_CALLS]
    assert calls.count("CreateTransformJob") == 2 and calls.count("CreateModel") == 2
    states = _states(run)
    for stage in ("pca", "kmeans"):
        assert states[f"batch_{stage}"] == states[f"delete_{stage}_model"] == "success"
        assert states[f"deploy_{stage}"] == states[f"delete_{stage}_endpoint"] == "skipped"
    _, by_endpoint, endpoint_calls = both_modes["endpoint"]
    assert "CreateTransformJob" not in endpoint_calls
    assert _states(by_endpoint)["batch_pca"] == "skipped"


def test_batch_mode_leaves_no_model(both_modes, clients) -> None:
    _, run, _ = both_modes["batch"]
    token = RunNames.for_run(run.run_id).token
    assert clients["sagemaker"].list_models(NameContains=token)["Models"] == []
    jobs = clients["sagemaker"].list_transform_jobs(NameContains=token)["TransformJobSummaries"]
    assert sorted(job["TransformJobName"] for job in jobs) == [f"popseg-kmeans-{token}", f"popseg-pca-{token}"]
    assert {job["TransformJobStatus"] for job in jobs} == {"Completed"}


def test_a_failing_transform_job_fails_the_run_with_its_reason_and_leaves_no_model(
    dag, airflow_db, clients, monkeypatch, capfd
) -> None:
    s3, sagemaker = clients["s3"], clients["sagemaker"]
    bucket = _bucket(s3, synthetic_census(400).to_csv(index=False).encode())
    real_request = requests.batch_request

    def unreadable_input(**kwargs) -> dict:
        plan = real_request(**kwargs)
        plan["Transform"]["TransformInput"]["ContentType"] = "text/plain"  # neither built-in reads it
        return plan

    monkeypatch.setattr(requests, "batch_request", unreadable_input)
    run = dag.test(run_conf=_conf(bucket, transform="batch"))
    states = _states(run)
    assert run.state == "failed" and states["batch_pca"] == "failed"
    assert states["delete_pca_model"] == "success" and states["publish"] == "upstream_failed"
    token = RunNames.for_run(run.run_id).token
    described = sagemaker.describe_transform_job(TransformJobName=f"popseg-pca-{token}")
    assert described["TransformJobStatus"] == "Failed"
    # The task log: SageMaker's reason first, then the tail of the job's log, where the data plane says why.
    printed, name = "".join(capfd.readouterr()), f"popseg-pca-{token}"
    reason = printed.find(f"SageMaker transform job {name} is Failed: {described['FailureReason']}")
    tail = printed.find(f"CloudWatch log of transform job {name}, last ")
    assert 0 <= reason < tail, (reason, tail)
    assert "Whole log: log group /aws/sagemaker/TransformJobs, stream " + name + "/" in printed[tail:]
    assert "[sagemaker logs]: MaxConcurrentTransforms=" in printed[tail:]
    assert sagemaker.list_models(NameContains=token)["Models"] == []


def test_a_cleared_batch_run_reattaches_to_its_transform_jobs(dag, airflow_db, clients, aws_calls) -> None:
    bucket = _bucket(clients["s3"], synthetic_census(400).to_csv(index=False).encode())
    when = datetime(2026, 3, 1, 3, 0, uuid.uuid4().int % 60, tzinfo=UTC)
    first = dag.test(logical_date=when, run_after=when, run_conf=_conf(bucket, transform="batch"))
    assert first.state == "success" and aws_calls.count("CreateTransformJob") == 2
    again = dag.test(logical_date=when, run_after=when, run_conf=_conf(bucket, transform="batch"))
    assert again.run_id == first.run_id and again.state == "success"
    assert aws_calls.count("CreateTransformJob") == 2  # reattached: no second job
