"""The sweeper's calls against the emulator: it finds only popseg's resources with their tags, deletes
an endpoint with its config, stops a dead run's training job and an unknown run's transform job, deletes work
prefixes in batches, and a dry run calls nothing that changes anything."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import numpy as np
import pytest

from include.sagemaker_formats.recordio import encode_dense
from include.segmentation_aws import sweep
from include.segmentation_aws.names import RUN_ID_TAG, RUN_TAG
from tests.support.sagemaker_requests import (
    KMEANS_IMAGE,
    PCA_IMAGE,
    ROLE,
    create_model_and_config,
    training_request,
)

DEAD, LIVE = "scheduled__2026-11-01T02:00:00+00:00", "manual__2026-12-02T10:00:00+00:00"
STATES = {DEAD: "failed", LIVE: "running"}
UNKNOWN = "manual__2026-01-01T00:00:00+00:00"  # a run id Airflow does not know (not in STATES)


def _tag(sagemaker, kind: str, name: str, run_id: str) -> None:
    described = {
        sweep.MODEL: lambda: sagemaker.describe_model(ModelName=name)["ModelArn"],
        sweep.ENDPOINT_CONFIG: lambda: sagemaker.describe_endpoint_config(EndpointConfigName=name)["EndpointConfigArn"],
        sweep.ENDPOINT: lambda: sagemaker.describe_endpoint(EndpointName=name)["EndpointArn"],
    }[kind]()
    sagemaker.add_tags(
        ResourceArn=described, Tags=[{"Key": RUN_TAG, "Value": "t"}, {"Key": RUN_ID_TAG, "Value": run_id}]
    )


def _sweep(sagemaker, s3, bucket: str, dry_run: bool = False, **policy) -> list[sweep.Decision]:
    decisions = sweep.decide(
        sweep.find(sagemaker, s3, bucket, "seg"), STATES.get, sweep.Policy(now=datetime.now(UTC), **policy)
    )
    sweep.execute(decisions, sagemaker, s3, bucket, dry_run, poll_seconds=0.2)
    return decisions


def _actions(decisions: list[sweep.Decision], *names: str) -> dict[tuple[str, str], str]:
    return {(d.resource.kind, d.resource.name): d.action for d in decisions if d.resource.name in names}


def test_a_dead_runs_endpoint_goes_with_its_config_and_model_and_a_live_runs_stays(
    sagemaker, s3, bucket, unique, pca_job
) -> None:
    artifact = pca_job["ModelArtifacts"]["S3ModelArtifacts"]
    dead, live, foreign = unique("popseg-pca"), unique("popseg-pca"), unique("other")
    for name, run_id in ((dead, DEAD), (live, LIVE)):
        create_model_and_config(sagemaker, name, PCA_IMAGE, artifact)
        sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
        for kind in (sweep.MODEL, sweep.ENDPOINT_CONFIG, sweep.ENDPOINT):
            _tag(sagemaker, kind, name, run_id)
    create_model_and_config(sagemaker, foreign, PCA_IMAGE, artifact)  # not popseg-named: never listed

    decisions = _sweep(sagemaker, s3, bucket)
    found = _actions(decisions, dead, live, foreign)
    assert found == {
        **{(kind, dead): "delete" for kind in (sweep.ENDPOINT, sweep.ENDPOINT_CONFIG, sweep.MODEL)},
        **{(kind, live): "keep" for kind in (sweep.ENDPOINT, sweep.ENDPOINT_CONFIG, sweep.MODEL)},
    }
    assert sagemaker.list_endpoints(NameContains=dead)["Endpoints"] == []
    assert sagemaker.list_endpoint_configs(NameContains=dead)["EndpointConfigs"] == []
    assert sagemaker.list_models(NameContains=dead)["Models"] == []
    assert [m["ModelName"] for m in sagemaker.list_models(NameContains=live)["Models"]] == [live]
    assert [m["ModelName"] for m in sagemaker.list_models(NameContains=foreign)["Models"]] == [foreign]


def test_a_dry_run_changes_nothing(sagemaker, s3, bucket, unique, pca_job) -> None:
    name = unique("popseg-pca")
    create_model_and_config(sagemaker, name, PCA_IMAGE, pca_job["ModelArtifacts"]["S3ModelArtifacts"])
    _tag(sagemaker, sweep.MODEL, name, DEAD)
    assert _actions(_sweep(sagemaker, s3, bucket, dry_run=True), name)[(sweep.MODEL, name)] == "delete"
    assert [m["ModelName"] for m in sagemaker.list_models(NameContains=name)["Models"]] == [name]


def test_a_dead_runs_training_job_in_progress_is_stopped(sagemaker, s3, bucket, unique) -> None:
    rows = np.random.default_rng(0).random((400_000, 8), dtype=np.float32)
    s3.put_object(Bucket=bucket, Key="sweep-big/train.rec", Body=encode_dense(rows))
    name = unique("popseg-kmeans")
    hyperparameters = {"feature_dim": "8", "k": "8", "mini_batch_size": "50", "epochs": "10"}
    request = training_request(name, KMEANS_IMAGE, hyperparameters, f"s3://{bucket}/sweep-big/", f"s3://{bucket}/m")
    sagemaker.create_training_job(**request, Tags=[{"Key": RUN_TAG, "Value": "t"}, {"Key": RUN_ID_TAG, "Value": DEAD}])
    while sagemaker.describe_training_job(TrainingJobName=name)["SecondaryStatus"] != "Training":
        time.sleep(0.05)
    assert _actions(_sweep(sagemaker, s3, bucket), name) == {(sweep.TRAINING_JOB, name): "stop"}
    assert sagemaker.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] in ("Stopping", "Stopped")


def _transform_job_in_progress(sagemaker, s3, bucket: str, unique, pca_job: dict, run_id: str) -> str:
    """A PCA batch transform job tagged with `run_id`, still InProgress: 200,000 records one request each."""
    name, model = unique("popseg-pca"), unique("model")  # the model is not popseg-named: never listed
    rows = np.random.default_rng(1).random((200_000, 6), dtype=np.float32)
    s3.put_object(Bucket=bucket, Key=f"sweep-transform/{name}/in.rec", Body=encode_dense(rows))
    sagemaker.create_model(
        ModelName=model, ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": PCA_IMAGE, "ModelDataUrl": pca_job["ModelArtifacts"]["S3ModelArtifacts"]},
    )  # fmt: skip
    sagemaker.create_transform_job(
        TransformJobName=name, ModelName=model, BatchStrategy="SingleRecord",
        TransformInput={
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/sweep-transform/{name}/"}},
            "ContentType": "application/x-recordio-protobuf", "SplitType": "RecordIO",
        },
        TransformOutput={"S3OutputPath": f"s3://{bucket}/sweep-transform/{name}-out/"},
        TransformResources={"InstanceType": "ml.m5.xlarge", "InstanceCount": 1},
        Tags=[{"Key": RUN_TAG, "Value": "t"}, {"Key": RUN_ID_TAG, "Value": run_id}],
    )  # fmt: skip
    return name


def test_a_transform_job_in_progress_of_a_run_airflow_does_not_know_is_stopped(
    sagemaker, s3, bucket, unique, pca_job
) -> None:
    name = _transform_job_in_progress(sagemaker, s3, bucket, unique, pca_job, UNKNOWN)
    [decision] = [d for d in _sweep(sagemaker, s3, bucket) if d.resource.name == name]
    assert (decision.resource.kind, decision.action) == (sweep.TRANSFORM_JOB, "stop")
    assert decision.reason == f"run {UNKNOWN} is unknown to Airflow"
    assert sagemaker.describe_transform_job(TransformJobName=name)["TransformJobStatus"] in ("Stopping", "Stopped")


def test_a_dry_run_keeps_a_transform_job_it_would_stop(sagemaker, s3, bucket, unique, pca_job) -> None:
    name = _transform_job_in_progress(sagemaker, s3, bucket, unique, pca_job, UNKNOWN)
    try:
        assert _actions(_sweep(sagemaker, s3, bucket, dry_run=True), name) == {(sweep.TRANSFORM_JOB, name): "stop"}
        assert sagemaker.describe_transform_job(TransformJobName=name)["TransformJobStatus"] == "InProgress"
    finally:
        sagemaker.stop_transform_job(TransformJobName=name)  # not left transforming beside the other tests


def test_work_prefixes_are_deleted_in_batches_and_a_live_runs_is_kept(s3, bucket, monkeypatch) -> None:
    for token, run_id in (("dead", DEAD), ("live", LIVE)):
        s3.put_object(Bucket=bucket, Key=f"seg/work/{token}/run-id", Body=run_id.encode())
        for i in range(4):
            s3.put_object(Bucket=bucket, Key=f"seg/work/{token}/part-{i}", Body=b"x")
    monkeypatch.setattr(sweep, "MAX_DELETE_KEYS", 2)  # 5 keys: three DeleteObjects calls
    policy = sweep.Policy(now=datetime.now(UTC), keep_failed_days=0)
    decisions = sweep.decide(sweep.find_work(s3, bucket, "seg"), STATES.get, policy)
    sweep.execute(decisions, None, s3, bucket, dry_run=False)
    assert _actions(decisions, "seg/work/dead/", "seg/work/live/") == {
        (sweep.WORK, "seg/work/dead/"): "delete",
        (sweep.WORK, "seg/work/live/"): "keep",
    }
    assert s3.list_objects_v2(Bucket=bucket, Prefix="seg/work/dead/")["KeyCount"] == 0
    assert s3.list_objects_v2(Bucket=bucket, Prefix="seg/work/live/")["KeyCount"] == 5


def test_one_failing_item_does_not_spare_the_others_and_fails_the_sweep(s3, bucket, sagemaker, unique) -> None:
    s3.put_object(Bucket=bucket, Key="seg2/work/a/x", Body=b"x")
    now = datetime.now(UTC)
    gone = sweep.Resource(sweep.TRAINING_JOB, unique("popseg-none"), now, {RUN_TAG: "t"}, "InProgress")
    work = sweep.Resource(sweep.WORK, "seg2/work/a/", now, {RUN_TAG: "a"}, keys=("seg2/work/a/x",))
    decisions = [sweep.Decision(gone, sweep.STOP, "test"), sweep.Decision(work, sweep.DELETE, "test")]
    with pytest.raises(RuntimeError, match=f"1 of 2 sweeps failed, first: stop training-job {gone.name}"):
        sweep.execute(decisions, sagemaker, s3, bucket, dry_run=False)
    assert s3.list_objects_v2(Bucket=bucket, Prefix="seg2/work/a/")["KeyCount"] == 0
