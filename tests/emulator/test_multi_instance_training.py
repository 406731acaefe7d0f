"""Training jobs on several instances (InstanceCount > 1): one model from every shard, as the built-ins make."""

from __future__ import annotations

import numpy as np

from include.sagemaker_formats.artifacts import read_pca_model
from tests.support.sagemaker_requests import PCA_IMAGE, training_request, wait_for_job

PCA_HP = {"feature_dim": "6", "mini_batch_size": "100", "num_components": "3"}


def _sharded_job(sagemaker, unique, bucket, train_uri: str, instances: int) -> dict:
    request = training_request(unique("sharded"), PCA_IMAGE, PCA_HP, train_uri, f"s3://{bucket}/models")
    request["ResourceConfig"]["InstanceCount"] = instances
    request["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3DataDistributionType"] = "ShardedByS3Key"
    sagemaker.create_training_job(**request)
    return wait_for_job(sagemaker, request["TrainingJobName"])


def _model(s3, bucket: str, job: dict):
    key = job["ModelArtifacts"]["S3ModelArtifacts"].split(f"{bucket}/", 1)[1]
    return read_pca_model(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def _log(logs, job: dict) -> list[str]:
    streams = logs.describe_log_streams(
        logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix=job["TrainingJobName"] + "/"
    )["logStreams"]
    events = logs.get_log_events(logGroupName="/aws/sagemaker/TrainingJobs", logStreamName=streams[0]["logStreamName"])
    return [event["message"] for event in events["events"]]


def test_two_instances_on_two_shards_train_the_model_of_all_the_data(
    sagemaker, s3, logs, unique, bucket, pca_data, pca_job
):
    job = _sharded_job(sagemaker, unique, bucket, pca_data[1], instances=2)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    sharded, single = _model(s3, bucket, job), _model(s3, bucket, pca_job)
    assert np.allclose(sharded.singular_values, single.singular_values, rtol=1e-5)
    assert np.allclose(np.abs(sharded.v), np.abs(single.v), atol=1e-5)
    assert any("sharded by key over 2 instances" in line for line in _log(logs, job))


def test_describe_records_the_instances_and_bills_wall_clock_seconds_per_instance(sagemaker, unique, bucket, pca_data):
    job = _sharded_job(sagemaker, unique, bucket, pca_data[1], instances=2)
    assert job["ResourceConfig"]["InstanceCount"] == 2
    assert job["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3DataDistributionType"] == "ShardedByS3Key"
    # SageMaker: BillableTimeInSeconds is wall-clock time; the bill is it times InstanceCount.
    assert job["BillableTimeInSeconds"] == job["TrainingTimeInSeconds"]


def test_more_instances_than_shards_still_trains_and_says_which_are_idle(sagemaker, logs, unique, bucket, pca_data):
    job = _sharded_job(sagemaker, unique, bucket, pca_data[1], instances=3)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert any("1 of 3 instances get no data" in line for line in _log(logs, job))
