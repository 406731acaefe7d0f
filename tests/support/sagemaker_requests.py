"""SageMaker calls as the provider's operators make them, for the emulator's tests: requests, waits, a deploy."""

from __future__ import annotations

import time

from aws_emulator.connection import ROLE_ARN as ROLE

REGION = "us-east-1"
PCA_IMAGE = "382416733822.dkr.ecr.us-east-1.amazonaws.com/pca:1"
KMEANS_IMAGE = "382416733822.dkr.ecr.us-east-1.amazonaws.com/kmeans:1"


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


def with_test_channel(request: dict, test_uri: str | None = None) -> dict:
    """The request with a `test` channel like its `train` one (the same S3 data unless `test_uri` is given),
    as the SDK's `fit({"train": …, "test": …})` sends it."""
    train = request["InputDataConfig"][0]
    source = {**train["DataSource"]["S3DataSource"], **({"S3Uri": test_uri} if test_uri else {})}
    test = {**train, "ChannelName": "test", "DataSource": {"S3DataSource": source}}
    return {**request, "InputDataConfig": [*request["InputDataConfig"], test]}


def create_model(sagemaker, name: str, image: str, model_data: str) -> str:
    """A model named `name` serving `model_data` with the built-in `image`."""
    sagemaker.create_model(
        ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": image, "ModelDataUrl": model_data}
    )
    return name


def transform_request(name: str, model: str, input_uri: str, output: str, **extra) -> dict:
    """A CreateTransformJob request as the provider's SageMakerTransformOperator sends one.

    extra: content_type, split_type, accept, assemble_with, compression, data_type (TransformInput and
    TransformOutput members), and any top-level member (BatchStrategy, MaxPayloadInMB, DataProcessing…)."""
    transform_input = {
        "DataSource": {"S3DataSource": {"S3DataType": extra.pop("data_type", "S3Prefix"), "S3Uri": input_uri}}
    }
    for key, member in (
        ("content_type", "ContentType"),
        ("split_type", "SplitType"),
        ("compression", "CompressionType"),
    ):
        if key in extra:
            transform_input[member] = extra.pop(key)
    transform_output = {"S3OutputPath": output}
    for key, member in (("accept", "Accept"), ("assemble_with", "AssembleWith")):
        if key in extra:
            transform_output[member] = extra.pop(key)
    return {
        "TransformJobName": name,
        "ModelName": model,
        "TransformInput": transform_input,
        "TransformOutput": transform_output,
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
        **extra,
    }


def wait_for_transform(sagemaker, name: str) -> dict:
    """Poll every 0.1 s until the transform job is terminal; its description."""
    for _ in range(1200):
        description = sagemaker.describe_transform_job(TransformJobName=name)
        if description["TransformJobStatus"] not in ("InProgress", "Stopping"):
            return description
        time.sleep(0.1)
    raise TimeoutError(name)
