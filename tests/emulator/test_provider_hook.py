"""The Amazon provider's SageMakerHook works against the emulator with a 1-second check interval, and its
deferred trigger (aiobotocore) sees a transform job end."""

from __future__ import annotations

import asyncio

import pytest

from aws_emulator.connection import airflow_env
from include.sagemaker_formats.recordio import encode_dense
from tests.support.sagemaker_requests import PCA_IMAGE, ROLE, create_model, training_request, transform_request


@pytest.fixture(scope="module")
def hook(emulator):
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("AIRFLOW_CONN_EMULATOR", airflow_env(emulator.endpoint_url)["AIRFLOW_CONN_AWS_DEFAULT"])
    from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook

    yield SageMakerHook(aws_conn_id="emulator")
    monkeypatch.undo()


def test_create_training_job_waits_and_prints_the_jobs_log(hook, pca_data, bucket, unique, capfd) -> None:
    name = unique("hooked")
    request = training_request(
        name,
        PCA_IMAGE,
        {"feature_dim": "6", "mini_batch_size": "100", "num_components": "2"},
        pca_data[1],
        f"s3://{bucket}/hooked",
    )
    # The hook re-describes a job it tails at most every 30 s, so this test takes about that long.
    response = hook.create_training_job(request, wait_for_completion=True, print_log=True, check_interval=1)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert hook.describe_training_job(name)["TrainingJobStatus"] == "Completed"
    printed = "".join(capfd.readouterr())  # Airflow 3 logs through structlog to the terminal
    assert "#metrics {" in printed  # the container's own log lines, tailed from CloudWatch
    assert "Completed - Training job completed" in printed
    assert "Billable seconds: 1" in printed


def test_endpoint_waiters_work_with_a_one_second_delay(hook, pca_job, unique) -> None:
    name = unique("hooked-endpoint")
    hook.create_model(
        {
            "ModelName": name,
            "ExecutionRoleArn": ROLE,
            "PrimaryContainer": {"Image": PCA_IMAGE, "ModelDataUrl": pca_job["ModelArtifacts"]["S3ModelArtifacts"]},
        }
    )
    hook.create_endpoint_config(
        {
            "EndpointConfigName": name,
            "ProductionVariants": [
                {
                    "VariantName": "AllTraffic",
                    "ModelName": name,
                    "InitialInstanceCount": 1,
                    "InstanceType": "ml.m5.large",
                }
            ],
        }
    )
    hook.create_endpoint({"EndpointName": name, "EndpointConfigName": name}, wait_for_completion=True, check_interval=1)
    assert hook.describe_endpoint(name)["EndpointStatus"] == "InService"
    hook.get_conn().delete_endpoint(EndpointName=name)
    hook.get_waiter("endpoint_deleted").wait(EndpointName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    hook.delete_model(name)


def test_the_endpoint_deleted_trigger_fires_once_the_endpoint_is_gone_saying_when(hook, pca_job, unique) -> None:
    from datetime import UTC, datetime

    from include.airflow_popseg.triggers import EndpointDeletedTrigger

    name = unique("deleted-endpoint")
    hook.create_model(
        {
            "ModelName": name,
            "ExecutionRoleArn": ROLE,
            "PrimaryContainer": {"Image": PCA_IMAGE, "ModelDataUrl": pca_job["ModelArtifacts"]["S3ModelArtifacts"]},
        }
    )
    variant = {
        "VariantName": "AllTraffic",
        "ModelName": name,
        "InitialInstanceCount": 1,
        "InstanceType": "ml.t2.medium",
    }
    hook.create_endpoint_config({"EndpointConfigName": name, "ProductionVariants": [variant]})
    hook.create_endpoint({"EndpointName": name, "EndpointConfigName": name}, wait_for_completion=True, check_interval=1)
    asked = datetime.now(UTC)
    hook.get_conn().delete_endpoint(EndpointName=name)
    trigger = EndpointDeletedTrigger(endpoint_name=name, waiter_delay=1, waiter_max_attempts=30, aws_conn_id="emulator")
    classpath, kwargs = trigger.serialize()  # the triggerer rebuilds it from these
    assert classpath == "include.airflow_popseg.triggers.EndpointDeletedTrigger"
    event = _first_event(EndpointDeletedTrigger(**kwargs))
    assert (event["status"], event["endpoint_name"]) == ("success", name)
    assert datetime.fromisoformat(event["gone_at"]) >= asked
    hook.delete_model(name)


@pytest.fixture(scope="module")
def transform_model(sagemaker, pca_job) -> str:
    return create_model(sagemaker, "hooked-transform-model", PCA_IMAGE, pca_job["ModelArtifacts"]["S3ModelArtifacts"])


def _first_event(trigger) -> dict:
    async def first() -> dict:
        async for event in trigger.run():
            return event.payload
        raise AssertionError("the trigger ended without an event")

    return asyncio.run(first())


def _trigger(name: str):
    from airflow.providers.amazon.aws.triggers.sagemaker import SageMakerTrigger

    return SageMakerTrigger(
        job_name=name, job_type="Transform", waiter_delay=1, waiter_max_attempts=60, aws_conn_id="emulator"
    )


def test_create_transform_job_waits_for_completion(hook, s3, bucket, pca_data, transform_model, unique) -> None:
    name = unique("hooked-transform")
    s3.put_object(Bucket=bucket, Key=f"{name}/in/part-0.rec", Body=encode_dense(pca_data[0]))
    request = transform_request(
        name,
        transform_model,
        f"s3://{bucket}/{name}/in/",
        f"s3://{bucket}/{name}/out",
        content_type="application/x-recordio-protobuf",
        split_type="RecordIO",
    )
    response = hook.create_transform_job(request, wait_for_completion=True, check_interval=1)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert hook.describe_transform_job(name)["TransformJobStatus"] == "Completed"


def test_the_deferred_trigger_reports_a_completed_transform_job(
    hook, s3, bucket, pca_data, transform_model, unique
) -> None:
    name = unique("deferred-transform")
    s3.put_object(Bucket=bucket, Key=f"{name}/in/part-0.rec", Body=encode_dense(pca_data[0]))
    recordio = "application/x-recordio-protobuf"
    request = transform_request(
        name, transform_model, f"s3://{bucket}/{name}/in/", f"s3://{bucket}/{name}/out", content_type=recordio
    )
    hook.get_conn().create_transform_job(**request)
    assert _first_event(_trigger(name)) == {"status": "success", "job_name": name}


def test_the_deferred_trigger_reports_a_failed_transform_job_with_its_reason(
    hook, s3, bucket, transform_model, unique
) -> None:
    name = unique("deferred-failure")
    s3.put_object(Bucket=bucket, Key=f"{name}/in/part-0.csv", Body=b"1,2,3,4,5,6\n")
    request = transform_request(
        name, transform_model, f"s3://{bucket}/{name}/in/", f"s3://{bucket}/{name}/out", content_type="text/libsvm"
    )
    hook.get_conn().create_transform_job(**request)
    event = _first_event(_trigger(name))
    assert (event["status"], event["message"]) == ("failed", "ClientError: See job logs for more information")
