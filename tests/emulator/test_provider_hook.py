"""The Amazon provider's SageMakerHook works against the emulator with a 1-second check interval."""

from __future__ import annotations

import pytest

from aws_emulator.connection import airflow_env
from tests.support.sagemaker_requests import PCA_IMAGE, ROLE, training_request


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
