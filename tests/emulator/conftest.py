"""One emulator for the emulator tests, reached only over HTTP with boto3 and the provider's hooks."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable

import boto3
import numpy as np
import pytest

from aws_emulator.connection import ROLE_ARN as ROLE
from aws_emulator.connection import credentials_env
from aws_emulator.server import Emulator
from include.sagemaker_formats.recordio import encode_dense

REGION = "us-east-1"
PCA_IMAGE = "382416733822.dkr.ecr.us-east-1.amazonaws.com/pca:1"
KMEANS_IMAGE = "382416733822.dkr.ecr.us-east-1.amazonaws.com/kmeans:1"


@pytest.fixture(scope="session", autouse=True)
def dummy_credentials() -> None:
    for key, value in credentials_env(REGION).items():
        os.environ.setdefault(key, value)


def _client(emulator: Emulator, service: str):
    return boto3.client(service, endpoint_url=emulator.endpoint_url, region_name=REGION)


@pytest.fixture(scope="session")
def sagemaker(emulator):
    return _client(emulator, "sagemaker")


@pytest.fixture(scope="session")
def runtime(emulator):
    return _client(emulator, "sagemaker-runtime")


@pytest.fixture(scope="session")
def s3(emulator):
    return _client(emulator, "s3")


@pytest.fixture(scope="session")
def logs(emulator):
    return _client(emulator, "logs")


@pytest.fixture(scope="session")
def bucket(s3) -> str:
    name = "popseg-emulator-tests"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def unique() -> Callable[[str], str]:
    """Names no other test uses: `unique("pca")` -> `pca-1a2b3c4d`."""
    return lambda prefix: f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def pca_data(s3, bucket) -> tuple[np.ndarray, str]:
    """(rows (600, 6) float32, S3 prefix holding them as RecordIO-protobuf in two objects)."""
    rng = np.random.default_rng(7)
    rows = (rng.normal(size=(600, 6)) * [4, 3, 2, 1, 0.5, 0.1]).astype("float32")
    s3.put_object(Bucket=bucket, Key="pca/train/part-0.rec", Body=encode_dense(rows[:300]))
    s3.put_object(Bucket=bucket, Key="pca/train/part-1.rec", Body=encode_dense(rows[300:]))
    return rows, f"s3://{bucket}/pca/train/"


def training_request(name: str, image: str, hyperparameters: dict[str, str], train_uri: str, output: str, **extra):
    """A CreateTrainingJob request as the provider's operator sends one."""
    return {
        "TrainingJobName": name,
        "RoleArn": ROLE,
        "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File"},
        "HyperParameters": hyperparameters,
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "DataSource": {"S3DataSource": {"S3DataType": extra.pop("data_type", "S3Prefix"), "S3Uri": train_uri}},
                "ContentType": extra.pop("content_type", "application/x-recordio-protobuf"),
            }
        ],
        "OutputDataConfig": {"S3OutputPath": output},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": extra.pop("max_runtime", 600)},
        **extra,
    }


def wait_for_job(sagemaker, name: str) -> dict:
    """Poll every 0.1 s (botocore's waiter counts whole seconds) until the job is terminal."""
    for _ in range(1200):
        description = sagemaker.describe_training_job(TrainingJobName=name)
        if description["TrainingJobStatus"] not in ("InProgress", "Stopping"):
            return description
        time.sleep(0.1)
    raise TimeoutError(name)


def create_model_and_config(sagemaker, name: str, image: str, model_data: str) -> None:
    """A model and an endpoint config, both named `name`."""
    sagemaker.create_model(
        ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": image, "ModelDataUrl": model_data}
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": name, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}
        ],
    )


def deploy(sagemaker, name: str, image: str, model_data: str) -> str:
    """Model, config and endpoint named `name`; waits for InService."""
    create_model_and_config(sagemaker, name, image, model_data)
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    return name


@pytest.fixture(scope="session")
def pca_job(sagemaker, pca_data, bucket) -> dict:
    """A completed PCA job on `pca_data` (3 components)."""
    name = f"pca-shared-{uuid.uuid4().hex[:6]}"
    hyperparameters = {"feature_dim": "6", "mini_batch_size": "100", "num_components": "3"}
    sagemaker.create_training_job(
        **training_request(name, PCA_IMAGE, hyperparameters, pca_data[1], f"s3://{bucket}/models/")
    )
    return wait_for_job(sagemaker, name)


@pytest.fixture(scope="session")
def pca_endpoint(sagemaker, pca_job) -> str:
    return deploy(
        sagemaker, f"pca-endpoint-{uuid.uuid4().hex[:6]}", PCA_IMAGE, pca_job["ModelArtifacts"]["S3ModelArtifacts"]
    )
