"""The AWS latency profile (`--latency aws[:scale]`, aws_emulator/sagemaker/latency.py): training jobs, endpoints
and transform jobs pass through SageMaker's states, each for its modelled AWS time divided by the scale, and
bill the modelled seconds; without the profile nothing changes. Durations are asserted as lower bounds from
the Describe* timestamps: a state can last longer than its share (the emulator's own work), never less."""

from __future__ import annotations

import datetime
import time
import uuid
from collections.abc import Iterator

import boto3
import numpy as np
import pytest

from aws_emulator.sagemaker.latency import (
    BILLED_TRAINING_PHASES,
    ENDPOINT_CREATING,
    TRAINING_PHASES,
    TRANSFORM_LAUNCH,
    LatencyProfile,
)
from aws_emulator.server import running_emulator
from include.sagemaker_formats.recordio import encode_dense
from tests.support.emulator_process import emulator_process
from tests.support.sagemaker_requests import (
    PCA_IMAGE,
    REGION,
    create_model,
    create_model_and_config,
    training_request,
    transform_request,
    wait_for_job,
    wait_for_transform,
)
from tests.support.status_watch import GONE, statuses_seen

PROFILE = LatencyProfile(scale=600, seed=24)
"""600 times faster than AWS: a 191 s training job takes about 0.3 s, a 7-minute deploy 0.7 s."""
TIMESTAMP_SLACK = 0.001
"""Describe* times travel as epoch floats and come back as datetimes (microseconds): a share measured from
them may read up to a microsecond short."""
PREPARING = "Preparing the instances for training"
"""Starting's last status message, set just before the runner waits out the rest of Starting."""
PCA_HYPERPARAMETERS = {"feature_dim": "4", "mini_batch_size": "50", "num_components": "2"}


@pytest.fixture(scope="module")
def aws_like() -> Iterator:
    with running_emulator(latency=PROFILE) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def aws_sagemaker(aws_like):
    return boto3.client("sagemaker", endpoint_url=aws_like.endpoint_url, region_name=REGION)


@pytest.fixture(scope="module")
def rows_uri(aws_like) -> str:
    """An S3 prefix holding (200, 4) float32 rows as RecordIO-protobuf, on the profiled emulator."""
    s3 = boto3.client("s3", endpoint_url=aws_like.endpoint_url, region_name=REGION)
    s3.create_bucket(Bucket="latency")
    rows = np.random.default_rng(24).normal(size=(200, 4)).astype("float32")
    s3.put_object(Bucket="latency", Key="train/part-0.rec", Body=encode_dense(rows))
    s3.put_object(Bucket="latency", Key="batch/rows.csv", Body="\n".join(",".join(map(str, r)) for r in rows))
    return "s3://latency/train/"


@pytest.fixture(scope="module")
def trained(aws_sagemaker, rows_uri) -> dict:
    """A PCA job run to completion under the profile: its DescribeTrainingJob."""
    name = f"pca-latency-{uuid.uuid4().hex[:6]}"
    aws_sagemaker.create_training_job(
        **training_request(name, PCA_IMAGE, PCA_HYPERPARAMETERS, rows_uri, "s3://latency/models/")
    )
    return wait_for_job(aws_sagemaker, name)


def _seconds(start, end) -> float:
    return (end - start).total_seconds()


def test_modelled_durations_depend_only_on_seed_and_name() -> None:
    assert PROFILE.training_phases("job-a") == LatencyProfile(scale=1, seed=24).training_phases("job-a")
    assert PROFILE.training_phases("job-a") != PROFILE.training_phases("job-b")
    assert PROFILE.training_phases("job-a") != LatencyProfile(scale=600, seed=25).training_phases("job-a")
    assert PROFILE.endpoint_creating("e", "c") == LatencyProfile(seed=24).endpoint_creating("e", "c")


def test_modelled_durations_fall_in_their_documented_ranges() -> None:
    for name in ("a", "b", "c"):
        for phase, seconds in PROFILE.training_phases(name).items():
            low, high = TRAINING_PHASES[phase]
            assert low <= seconds <= high, (phase, seconds)
        assert ENDPOINT_CREATING[0] <= PROFILE.endpoint_creating(name, name) <= ENDPOINT_CREATING[1]
        assert TRANSFORM_LAUNCH[0] <= PROFILE.transform_launch(name) <= TRANSFORM_LAUNCH[1]


def test_the_latency_option_reads_aws_with_an_optional_scale() -> None:
    assert LatencyProfile.parse("aws") == LatencyProfile(scale=1.0)
    assert LatencyProfile.parse("aws:60", seed=3) == LatencyProfile(scale=60.0, seed=3)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("gcp", "latency profile 'gcp': expected one of aws, optionally :<scale>"),
        ("aws:0", "latency profile 'aws:0': the scale must be a finite number > 0"),
        ("aws:fast", "latency profile 'aws:fast': the scale must be a finite number > 0"),
        ("aws:inf", "latency profile 'aws:inf': the scale must be a finite number > 0"),
    ],
)
def test_an_unknown_profile_or_a_bad_scale_is_refused(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        LatencyProfile.parse(spec)


def test_a_training_job_passes_through_sagemakers_secondary_statuses_in_order(trained) -> None:
    assert trained["TrainingJobStatus"] == "Completed"
    assert [t["Status"] for t in trained["SecondaryStatusTransitions"]] == [
        "Starting",
        "Downloading",
        "Training",
        "Uploading",
        "Completed",
    ]


def test_each_training_status_lasts_at_least_its_modelled_share(trained) -> None:
    modelled = PROFILE.training_phases(trained["TrainingJobName"])
    for transition in trained["SecondaryStatusTransitions"][:-1]:
        lasted = _seconds(transition["StartTime"], transition["EndTime"])
        assert lasted >= PROFILE.real(modelled[transition["Status"]]) - TIMESTAMP_SLACK, transition


def test_billed_seconds_are_the_modelled_aws_seconds_from_downloading_to_the_end(trained) -> None:
    modelled = PROFILE.training_phases(trained["TrainingJobName"])
    expected = round(sum(modelled[phase] for phase in BILLED_TRAINING_PHASES))
    assert trained["TrainingTimeInSeconds"] == expected
    assert trained["BillableTimeInSeconds"] == expected


def test_an_endpoint_is_creating_for_its_modelled_share_then_in_service(aws_sagemaker, trained) -> None:
    name = f"pca-latency-endpoint-{uuid.uuid4().hex[:6]}"
    create_model_and_config(aws_sagemaker, name, PCA_IMAGE, trained["ModelArtifacts"]["S3ModelArtifacts"])
    aws_sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
    describe = lambda: aws_sagemaker.describe_endpoint(EndpointName=name)  # noqa: E731

    assert statuses_seen(describe, "EndpointStatus", until={"InService", "Failed"}) == ["Creating", "InService"]
    endpoint = describe()
    lasted = _seconds(endpoint["CreationTime"], endpoint["LastModifiedTime"])
    assert lasted >= PROFILE.real(PROFILE.endpoint_creating(name, name)) - TIMESTAMP_SLACK


def test_a_deleted_endpoint_is_deleting_for_its_modelled_share_then_gone(aws_sagemaker, trained) -> None:
    name = f"pca-latency-deleted-{uuid.uuid4().hex[:6]}"
    create_model_and_config(aws_sagemaker, name, PCA_IMAGE, trained["ModelArtifacts"]["S3ModelArtifacts"])
    aws_sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
    describe = lambda: aws_sagemaker.describe_endpoint(EndpointName=name)  # noqa: E731
    statuses_seen(describe, "EndpointStatus", until={"InService"})

    aws_sagemaker.delete_endpoint(EndpointName=name)
    deleting = describe()
    assert statuses_seen(describe, "EndpointStatus", until=set()) == ["Deleting", GONE]
    gone_by = datetime.datetime.now(datetime.UTC)
    lasted = _seconds(deleting["LastModifiedTime"], gone_by)
    assert lasted >= PROFILE.real(PROFILE.endpoint_deleting(name)) - TIMESTAMP_SLACK


def test_a_transform_job_is_in_progress_for_its_modelled_launch_then_completed(aws_sagemaker, trained) -> None:
    model = create_model(
        aws_sagemaker, f"pca-latency-{uuid.uuid4().hex[:6]}", PCA_IMAGE, trained["ModelArtifacts"]["S3ModelArtifacts"]
    )
    name = f"pca-latency-batch-{uuid.uuid4().hex[:6]}"
    request = transform_request(
        name, model, "s3://latency/batch/", f"s3://latency/out/{name}/", content_type="text/csv", split_type="Line"
    )
    aws_sagemaker.create_transform_job(**request)
    describe = lambda: aws_sagemaker.describe_transform_job(TransformJobName=name)  # noqa: E731

    seen = statuses_seen(describe, "TransformJobStatus", until={"Completed", "Failed", "Stopped"})
    assert seen == ["InProgress", "Completed"]
    job = wait_for_transform(aws_sagemaker, name)
    lasted = _seconds(job["TransformStartTime"], job["TransformEndTime"])
    assert lasted >= PROFILE.real(PROFILE.transform_launch(name)) - TIMESTAMP_SLACK


def test_without_the_profile_billed_seconds_follow_the_emulators_clock(pca_job) -> None:
    """The session's emulator has no profile: a job passes the same states and bills the wall seconds it
    took, as before."""
    statuses = [t["Status"] for t in pca_job["SecondaryStatusTransitions"]]
    assert statuses == ["Starting", "Downloading", "Training", "Uploading", "Completed"]
    wall = max(1, int(_seconds(pca_job["TrainingStartTime"], pca_job["TrainingEndTime"])))
    assert pca_job["TrainingTimeInSeconds"] == pca_job["BillableTimeInSeconds"] == wall


def test_the_command_line_latency_option_profiles_the_jobs() -> None:
    profile = LatencyProfile.parse("aws:600", seed=7)
    with emulator_process("--latency", "aws:600", "--latency-seed", "7") as (_, url):
        s3 = boto3.client("s3", endpoint_url=url, region_name=REGION)
        sagemaker = boto3.client("sagemaker", endpoint_url=url, region_name=REGION)
        s3.create_bucket(Bucket="cli-latency")
        rows = np.random.default_rng(7).normal(size=(100, 4)).astype("float32")
        s3.put_object(Bucket="cli-latency", Key="train/part-0.rec", Body=encode_dense(rows))
        sagemaker.create_training_job(
            **training_request(
                "cli-latency", PCA_IMAGE, PCA_HYPERPARAMETERS, "s3://cli-latency/train/", "s3://cli-latency/out/"
            )
        )
        job = wait_for_job(sagemaker, "cli-latency")
    modelled = profile.training_phases("cli-latency")
    assert job["TrainingJobStatus"] == "Completed"
    assert job["BillableTimeInSeconds"] == round(sum(modelled[phase] for phase in BILLED_TRAINING_PHASES))


def test_stopping_a_job_ends_its_modelled_wait_at_once() -> None:
    """At AWS's own pace (scale 1) Starting lasts 90 s or more; StopTrainingJob does not wait it out."""
    with running_emulator(latency="aws") as emulator:
        s3 = boto3.client("s3", endpoint_url=emulator.endpoint_url, region_name=REGION)
        sagemaker = boto3.client("sagemaker", endpoint_url=emulator.endpoint_url, region_name=REGION)
        s3.create_bucket(Bucket="stopped")
        request = training_request("stopped", PCA_IMAGE, PCA_HYPERPARAMETERS, "s3://stopped/x/", "s3://stopped/m/")
        sagemaker.create_training_job(**request)
        describe = lambda: sagemaker.describe_training_job(TrainingJobName="stopped")  # noqa: E731
        statuses_seen(lambda: describe()["SecondaryStatusTransitions"][-1], "StatusMessage", until={PREPARING})
        time.sleep(0.5)  # the runner goes from that message into Starting's wait
        sagemaker.stop_training_job(TrainingJobName="stopped")
        job = wait_for_job(sagemaker, "stopped")
    assert job["TrainingJobStatus"] == "Stopped"
    assert [t["Status"] for t in job["SecondaryStatusTransitions"]] == ["Starting", "Stopping", "Stopped"]
    stopping = job["SecondaryStatusTransitions"][1]
    starting_share = LatencyProfile().training_phases("stopped")["Starting"]
    assert _seconds(stopping["StartTime"], stopping["EndTime"]) < starting_share
