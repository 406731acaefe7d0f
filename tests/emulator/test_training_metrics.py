"""Training metrics as SageMaker reports them: read from the job's log with the algorithm's metric
definitions, listed in FinalMetricDataList and sent to CloudWatch (aws_emulator/README.md cites the pages)."""

from __future__ import annotations

import datetime
import re
import uuid

import pytest

from include.sagemaker_formats.artifacts import read_kmeans_model
from tests.support.sagemaker_requests import KMEANS_IMAGE, training_request, wait_for_job, with_test_channel

LOG_GROUP = "/aws/sagemaker/TrainingJobs"


@pytest.fixture(scope="module")
def kmeans_job(sagemaker, pca_data, bucket) -> dict:
    """A completed K-Means job (k=3) whose `test` channel is its training rows, asking for msd and ssd."""
    name = f"kmeans-metrics-{uuid.uuid4().hex[:6]}"
    hyperparameters = {"feature_dim": "6", "k": "3", "eval_metrics": '["msd","ssd"]'}
    request = training_request(name, KMEANS_IMAGE, hyperparameters, pca_data[1], f"s3://{bucket}/models")
    sagemaker.create_training_job(**with_test_channel(request))
    job = wait_for_job(sagemaker, name)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    return job


def _final(job: dict) -> dict[str, float]:
    return {m["MetricName"]: m["Value"] for m in job["FinalMetricDataList"]}


def _messages(logs, job: dict) -> list[str]:
    stream = logs.describe_log_streams(logGroupName=LOG_GROUP, logStreamNamePrefix=job["TrainingJobName"] + "/")
    name = stream["logStreams"][0]["logStreamName"]
    return [e["message"] for e in logs.get_log_events(logGroupName=LOG_GROUP, logStreamName=name)["events"]]


def test_test_msd_and_ssd_are_the_test_rows_squared_distances_to_the_artifacts_nearest_centroid(
    kmeans_job, pca_data, s3, bucket
) -> None:
    key = kmeans_job["ModelArtifacts"]["S3ModelArtifacts"].split(f"s3://{bucket}/", 1)[1]
    centroids = read_kmeans_model(s3.get_object(Bucket=bucket, Key=key)["Body"].read()).astype("float64")
    rows = pca_data[0].astype("float64")
    squared = ((rows[:, None, :] - centroids[None]) ** 2).sum(axis=2).min(axis=1)
    metrics = _final(kmeans_job)
    assert metrics["test:msd"] == pytest.approx(squared.mean(), rel=1e-9)
    assert metrics["test:ssd"] == pytest.approx(squared.sum(), rel=1e-9)


def test_final_metrics_are_the_last_value_of_every_metric_definition_in_the_log(kmeans_job, logs) -> None:
    messages = _messages(logs, kmeans_job)
    expected = {}
    for definition in kmeans_job["AlgorithmSpecification"]["MetricDefinitions"]:
        values = [m.group(1) for m in map(re.compile(definition["Regex"]).search, messages) if m]
        if values:
            expected[definition["Name"]] = float(values[-1])
    assert set(expected) == {"test:msd", "test:ssd", "train:msd", "train:progress", "train:throughput"}
    assert _final(kmeans_job) == expected


def test_train_msd_is_reported_as_its_quality_metric_line_logs_it(kmeans_job, logs) -> None:
    line = next(m for m in _messages(logs, kmeans_job) if m.startswith("#quality_metric: host=algo-1, train msd"))
    assert _final(kmeans_job)["train:msd"] == float(line.split("<loss>=", 1)[1])


def test_each_final_metric_is_stamped_with_the_time_of_its_line_within_training(kmeans_job) -> None:
    for metric in kmeans_job["FinalMetricDataList"]:
        assert kmeans_job["TrainingStartTime"] <= metric["Timestamp"] <= kmeans_job["TrainingEndTime"]


def test_a_pca_job_reports_its_progress_and_throughput(pca_job) -> None:
    metrics = _final(pca_job)
    assert set(metrics) == {"train:progress", "train:throughput"}
    assert metrics["train:progress"] == 100.0 and metrics["train:throughput"] > 0


def test_cloudwatch_serves_the_metrics_as_the_sdks_training_job_analytics_asks_for_them(
    kmeans_job, sagemaker, emulator
) -> None:
    """The requests of SDK v2 `TrainingJobAnalytics._fetch_metric`: one GetMetricStatistics per defined
    metric, over TrainingStartTime to TrainingEndTime + 1 min, 60 s periods, Average."""
    import boto3

    cloudwatch = boto3.client("cloudwatch", endpoint_url=emulator.endpoint_url, region_name=sagemaker.meta.region_name)
    description = sagemaker.describe_training_job(TrainingJobName=kmeans_job["TrainingJobName"])
    found = {}
    for definition in description["AlgorithmSpecification"]["MetricDefinitions"]:
        datapoints = cloudwatch.get_metric_statistics(
            Namespace="/aws/sagemaker/TrainingJobs",
            MetricName=definition["Name"],
            Dimensions=[{"Name": "TrainingJobName", "Value": kmeans_job["TrainingJobName"]}],
            StartTime=description["TrainingStartTime"],
            EndTime=description["TrainingEndTime"] + datetime.timedelta(minutes=1),
            Period=60,
            Statistics=["Average"],
        )["Datapoints"]
        if datapoints:
            found[definition["Name"]] = datapoints[-1]["Average"]
    assert found == pytest.approx(_final(kmeans_job))
