"""Training jobs over the wire: lifecycle, channels, failures, stops and logs."""

from __future__ import annotations

import itertools
import json
import time

import numpy as np
import pytest
from botocore.exceptions import ClientError

from include.sagemaker_formats.artifacts import read_pca_model
from tests.support.sagemaker_requests import KMEANS_IMAGE, PCA_IMAGE, training_request, wait_for_job

PCA_HP = {"feature_dim": "6", "mini_batch_size": "100", "num_components": "3"}


def test_a_completed_job_has_the_real_lifecycle(pca_job) -> None:
    assert pca_job["TrainingJobStatus"] == "Completed" and pca_job["SecondaryStatus"] == "Completed"
    transitions = pca_job["SecondaryStatusTransitions"]
    assert [t["Status"] for t in transitions] == ["Starting", "Downloading", "Training", "Uploading", "Completed"]
    assert all(t["StatusMessage"] for t in transitions)
    assert all(a["EndTime"] == b["StartTime"] for a, b in itertools.pairwise(transitions))
    assert pca_job["TrainingStartTime"] <= pca_job["TrainingEndTime"]
    assert pca_job["BillableTimeInSeconds"] >= 1 and pca_job["TrainingTimeInSeconds"] >= 1


def test_the_artifact_lands_under_the_output_path_without_a_doubled_slash(pca_job, s3, bucket) -> None:
    uri = pca_job["ModelArtifacts"]["S3ModelArtifacts"]
    assert uri == f"s3://{bucket}/models/{pca_job['TrainingJobName']}/output/model.tar.gz"
    key = uri.split(f"{bucket}/", 1)[1]
    model = read_pca_model(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    assert model.num_components == 3 and model.feature_dim == 6


def test_the_artifact_is_the_exact_pca_of_every_object_under_the_prefix(pca_job, pca_data, s3, bucket) -> None:
    rows = pca_data[0].astype("float64")
    key = pca_job["ModelArtifacts"]["S3ModelArtifacts"].split(f"{bucket}/", 1)[1]
    model = read_pca_model(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    s = np.linalg.svd(rows - rows.mean(axis=0), compute_uv=False)
    assert np.allclose(model.singular_values, s[:3], rtol=1e-4)


def test_describe_echoes_the_request_with_the_services_defaults(pca_job) -> None:
    channel = pca_job["InputDataConfig"][0]
    assert channel["CompressionType"] == "None" and channel["RecordWrapperType"] == "None"
    assert channel["DataSource"]["S3DataSource"]["S3DataDistributionType"] == "FullyReplicated"
    assert pca_job["OutputDataConfig"]["CompressionType"] == "GZIP"
    assert pca_job["HyperParameters"] == PCA_HP
    assert pca_job["AlgorithmSpecification"]["MetricDefinitions"]
    assert pca_job["TrainingJobArn"].endswith(f":training-job/{pca_job['TrainingJobName'].lower()}")


def test_a_duplicate_job_name_is_resource_in_use(sagemaker, pca_job, pca_data, bucket) -> None:
    request = training_request(pca_job["TrainingJobName"], PCA_IMAGE, PCA_HP, pca_data[1], f"s3://{bucket}/m/")
    with pytest.raises(ClientError) as error:
        sagemaker.create_training_job(**request)
    assert error.value.response["Error"]["Code"] == "ResourceInUse"
    assert "a training job with this name already exists" in error.value.response["Error"]["Message"]


def test_a_missing_job_is_a_validation_exception(sagemaker) -> None:
    with pytest.raises(ClientError) as error:
        sagemaker.describe_training_job(TrainingJobName="no-such-job")
    assert error.value.response["Error"] == {"Code": "ValidationException", "Message": "Requested resource not found."}


def _run(sagemaker, unique, bucket, train_uri, image=PCA_IMAGE, hyperparameters=PCA_HP, **extra) -> dict:
    name = unique("job")
    sagemaker.create_training_job(
        **training_request(name, image, hyperparameters, train_uri, f"s3://{bucket}/models", **extra)
    )
    return wait_for_job(sagemaker, name)


def test_bad_hyperparameters_fail_the_job_with_a_client_error(sagemaker, unique, bucket, pca_data) -> None:
    job = _run(sagemaker, unique, bucket, pca_data[1], hyperparameters={**PCA_HP, "algorithm_mode": "fast"})
    assert job["TrainingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith("ClientError: Invalid hyperparameter algorithm_mode='fast'")
    assert [t["Status"] for t in job["SecondaryStatusTransitions"]] == ["Starting", "Failed"]


def test_a_feature_dim_that_disagrees_with_the_data_fails_the_job(sagemaker, unique, bucket, pca_data) -> None:
    job = _run(sagemaker, unique, bucket, pca_data[1], hyperparameters={**PCA_HP, "feature_dim": "5"})
    assert job["FailureReason"].startswith("ClientError: feature_dim=5 does not match the train data")


def test_an_unknown_image_fails_the_job_naming_it(sagemaker, unique, bucket, pca_data) -> None:
    job = _run(sagemaker, unique, bucket, pca_data[1], image="123.dkr.ecr.us-east-1.amazonaws.com/xgboost:1")
    assert job["TrainingJobStatus"] == "Failed" and "xgboost" in job["FailureReason"]


def test_an_empty_prefix_fails_the_job(sagemaker, unique, bucket) -> None:
    job = _run(sagemaker, unique, bucket, f"s3://{bucket}/nothing-here/")
    assert job["FailureReason"].startswith("ClientError: No S3 objects found")


def test_unreadable_input_fails_the_job(sagemaker, unique, bucket, s3) -> None:
    s3.put_object(Bucket=bucket, Key="garbage/x.rec", Body=b"not recordio at all")
    job = _run(sagemaker, unique, bucket, f"s3://{bucket}/garbage/")
    assert job["FailureReason"].startswith("ClientError: Channel 'train', object 0: unreadable RecordIO-protobuf")


def test_s3object_is_refused_as_sagemakers_enum_refuses_it(sagemaker, unique, bucket) -> None:
    request = training_request(unique("x"), PCA_IMAGE, PCA_HP, f"s3://{bucket}/x", "s3://x/y", data_type="S3Object")
    with pytest.raises(ClientError, match="Member must satisfy enum value set: \\[ManifestFile, S3Prefix"):
        sagemaker.create_training_job(**request)


def test_a_prefix_naming_one_csv_object_is_read(sagemaker, unique, bucket, s3) -> None:
    s3.put_object(Bucket=bucket, Key="csv/train.csv", Body=b"1,2,3\n2,4,7\n3,6,8\n4,1,1\n")
    job = _run(
        sagemaker,
        unique,
        bucket,
        f"s3://{bucket}/csv/train.csv",
        content_type="text/csv;label_size=0",
        hyperparameters={"feature_dim": "3", "mini_batch_size": "2", "num_components": "2"},
    )
    assert job["TrainingJobStatus"] == "Completed"


def test_a_record_set_manifest_is_followed(sagemaker, unique, bucket, s3, pca_data) -> None:
    manifest = [{"prefix": f"s3://{bucket}/pca/train/"}, "part-0.rec", "part-1.rec"]
    s3.put_object(Bucket=bucket, Key="manifests/.amazon.manifest", Body=json.dumps(manifest).encode())
    job = _run(sagemaker, unique, bucket, f"s3://{bucket}/manifests/.amazon.manifest", data_type="ManifestFile")
    assert job["TrainingJobStatus"] == "Completed"


def test_a_stopped_job_ends_stopped(sagemaker, unique, bucket, s3) -> None:
    big = np.random.default_rng(0).random((400_000, 8), dtype=np.float32)
    from include.sagemaker_formats.recordio import encode_dense

    s3.put_object(Bucket=bucket, Key="big/train.rec", Body=encode_dense(big))
    name = unique("stop")
    sagemaker.create_training_job(
        **training_request(
            name,
            KMEANS_IMAGE,
            {"feature_dim": "8", "k": "8", "mini_batch_size": "50", "epochs": "10"},
            f"s3://{bucket}/big/",
            f"s3://{bucket}/models",
        )
    )
    while sagemaker.describe_training_job(TrainingJobName=name)["SecondaryStatus"] != "Training":
        time.sleep(0.05)
    sagemaker.stop_training_job(TrainingJobName=name)
    assert sagemaker.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] in ("Stopping", "Stopped")
    job = wait_for_job(sagemaker, name)
    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Stopped", "Stopped")
    with pytest.raises(ClientError, match="in status Stopped"):
        sagemaker.stop_training_job(TrainingJobName=name)


def test_max_runtime_stops_the_job(sagemaker, unique, bucket, s3) -> None:
    name = unique("slow")
    sagemaker.create_training_job(
        **training_request(
            name,
            KMEANS_IMAGE,
            {"feature_dim": "8", "k": "8", "mini_batch_size": "50", "epochs": "50"},
            f"s3://{bucket}/big/",
            f"s3://{bucket}/models",
            max_runtime=1,
        )
    )
    job = wait_for_job(sagemaker, name)
    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Stopped", "MaxRuntimeExceeded")


def test_the_jobs_log_reaches_cloudwatch_with_metrics_lines(logs, pca_job) -> None:
    streams = logs.describe_log_streams(
        logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix=pca_job["TrainingJobName"] + "/"
    )["logStreams"]
    assert len(streams) == 1 and streams[0]["logStreamName"].startswith(f"{pca_job['TrainingJobName']}/algo-1-")
    events = logs.get_log_events(logGroupName="/aws/sagemaker/TrainingJobs", logStreamName=streams[0]["logStreamName"])
    messages = [e["message"] for e in events["events"]]
    assert any(m.startswith("#metrics ") for m in messages)


def test_list_training_jobs_filters_and_pages(sagemaker, pca_job) -> None:
    listed = sagemaker.list_training_jobs(NameContains=pca_job["TrainingJobName"], StatusEquals="Completed")
    assert [s["TrainingJobName"] for s in listed["TrainingJobSummaries"]] == [pca_job["TrainingJobName"]]
    first = sagemaker.list_training_jobs(MaxResults=1)
    assert len(first["TrainingJobSummaries"]) == 1 and "NextToken" in first
    names = [
        s["TrainingJobName"]
        for page in sagemaker.get_paginator("list_training_jobs").paginate()
        for s in page["TrainingJobSummaries"]
    ]
    assert pca_job["TrainingJobName"] in names and len(names) == len(set(names))
