"""Requests for SageMaker's built-in PCA and K-Means: training jobs and the endpoints that serve them.

Plain dicts in the shape of CreateTrainingJob / CreateModel / CreateEndpointConfig / CreateEndpoint, as
the Amazon provider's operators take them. The hyperparameters own their defaults (the notebook's).

Training jobs and models run network-isolated (EnableNetworkIsolation): the built-in PCA and K-Means
containers need no network, SageMaker itself moves the data and artifacts with the execution role, and
iam/airflow-policy.json refuses a CreateTrainingJob or CreateModel without it.
"""

from __future__ import annotations

import json

from include.sagemaker_formats.recordio import RECORDIO_CONTENT_TYPE
from include.segmentation_aws.images import image_uri
from include.segmentation_aws.names import resource_name

CHANNEL = "train"  # the built-ins' training channel
TEST_CHANNEL = "test"  # scored after training: K-Means reports test:msd / test:ssd of its rows
VARIANT = "AllTraffic"
# A batch transform request's largest payload: SageMaker's default and the built-ins' limit (6 MB), as the
# endpoint path's InvokeEndpoint bodies.
BATCH_MAX_PAYLOAD_MB = 6
# What K-Means scores the test channel with: mean and sum of squared distances to the nearest centroid, the
# metrics DescribeTrainingJob then lists (FinalMetricDataList) and a k sweep compares candidates by.
KMEANS_EVAL_METRICS = ("msd", "ssd")


def pca_hyperparameters(feature_dim: int, rows: int, num_components: int | None = None) -> dict[str, object]:
    """The notebook's PCA: regular mode, mean subtracted, features − 1 components unless asked; the SDK's
    mini-batch size. PCA computes at most `feature_dim` components: a larger `num_components` is refused."""
    if num_components is not None and not 1 <= num_components <= feature_dim:
        raise ValueError(
            f"num_components={num_components} must be 1 to {feature_dim}, the number of features PCA trains on"
        )
    return {
        "feature_dim": feature_dim,
        "num_components": num_components or feature_dim - 1,
        "mini_batch_size": min(500, max(1, rows)),
        "algorithm_mode": "regular",
        "subtract_mean": True,
    }


def kmeans_hyperparameters(feature_dim: int, k: int, rows: int) -> dict[str, object]:
    """The notebook's K-Means (k-means++ initialisation, the SDK's mini-batch size), scoring its test channel
    with KMEANS_EVAL_METRICS."""
    return {
        "feature_dim": feature_dim,
        "k": k,
        "mini_batch_size": min(5000, max(1, rows)),
        "init_method": "kmeans++",
        "eval_metrics": list(KMEANS_EVAL_METRICS),
    }


def training_request(
    *,
    name: str,
    algorithm: str,
    region: str,
    role_arn: str,
    train_uri: str,
    output_uri: str,
    hyperparameters: dict[str, object],
    instance_type: str,
    max_runtime_seconds: int,
    instance_count: int = 1,
    tags: dict[str, str] | None = None,
    test_uri: str | None = None,
) -> dict:
    """CreateTrainingJob for a built-in algorithm reading RecordIO-protobuf from an S3 prefix (`train_uri`),
    and with `test_uri` a `test` channel the algorithm scores once trained.

    With `instance_count` > 1 the job trains data-parallel, as SageMaker's PCA and K-Means do: the channel
    is ShardedByS3Key, so each of the n instances downloads about 1/n of the objects under the prefix
    (the SDK's `record_set()` does the same), and the instances merge their summaries into one model.
    The prefix must then hold at least `instance_count` objects, or an instance gets no data and is billed
    idle. With one instance the channel is FullyReplicated: the instance reads every object. The test channel
    is always FullyReplicated, as SageMaker's K-Means documentation recommends: every instance scores all of it.
    """
    if instance_count < 1:
        raise ValueError(f"instance_count must be at least 1, got {instance_count}")
    distribution = "ShardedByS3Key" if instance_count > 1 else "FullyReplicated"
    channels = [_channel(CHANNEL, train_uri, distribution)]
    if test_uri is not None:
        channels.append(_channel(TEST_CHANNEL, test_uri, "FullyReplicated"))
    return {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": image_uri(algorithm, region), "TrainingInputMode": "File"},
        "RoleArn": role_arn,
        "HyperParameters": {key: _hyperparameter(value) for key, value in hyperparameters.items()},
        "InputDataConfig": channels,
        "OutputDataConfig": {"S3OutputPath": output_uri},
        "ResourceConfig": {"InstanceType": instance_type, "InstanceCount": instance_count, "VolumeSizeInGB": 10},
        "StoppingCondition": {"MaxRuntimeInSeconds": max_runtime_seconds},
        "EnableNetworkIsolation": True,
        "Tags": _tags(tags),
    }


def endpoint_request(
    *,
    endpoint_name: str,
    training_job_name: str,
    model_data_uri: str,
    algorithm: str,
    region: str,
    role_arn: str,
    instance_type: str,
    tags: dict[str, str] | None = None,
) -> dict:
    """`SageMakerEndpointOperator` config: model (from the job that ran), endpoint config and endpoint.

    The model takes the job's own name and artifact, so a retried job renamed by the operator still
    deploys its own model; config and endpoint take the run's endpoint name.
    """
    model = model_request(training_job_name, model_data_uri, algorithm, region, role_arn, tags)
    model_name = model["ModelName"]
    return {
        "Model": model,
        "EndpointConfig": {
            "EndpointConfigName": endpoint_name,
            "ProductionVariants": [
                {
                    "VariantName": VARIANT,
                    "ModelName": model_name,
                    "InitialInstanceCount": 1,
                    "InstanceType": instance_type,
                    "InitialVariantWeight": 1.0,
                }
            ],
            "Tags": _tags(tags),
        },
        "Endpoint": {"EndpointName": endpoint_name, "EndpointConfigName": endpoint_name, "Tags": _tags(tags)},
    }


def model_request(
    training_job_name: str,
    model_data_uri: str,
    algorithm: str,
    region: str,
    role_arn: str,
    tags: dict[str, str] | None = None,
) -> dict:
    """CreateModel for the artifact of the job that ran, named after that job (a retried job renamed by the
    operator still serves its own model)."""
    return {
        "ModelName": resource_name(training_job_name),
        "PrimaryContainer": {"Image": image_uri(algorithm, region), "ModelDataUrl": model_data_uri},
        "ExecutionRoleArn": role_arn,
        "EnableNetworkIsolation": True,
        "Tags": _tags(tags),
    }


def batch_request(
    *,
    job_name: str,
    training_job_name: str,
    model_data_uri: str,
    algorithm: str,
    region: str,
    role_arn: str,
    input_uri: str,
    output_uri: str,
    instance_type: str,
    tags: dict[str, str] | None = None,
) -> dict:
    """`SageMakerTransformOperator` config: the model of the job that ran, and a batch transform job over every
    RecordIO-protobuf object under the S3 prefix `input_uri`, writing `<object>.out` under `output_uri`.

    RecordIO-protobuf both ways: the answers are float32 as the model computed them (JSON Lines would print
    them as text, and parsing text is what the endpoint path's RecordIO avoids too). SplitType RecordIO and
    MultiRecord let SageMaker pack whole records into requests of up to MAX_PAYLOAD_MB; AssembleWith None
    concatenates the answers' RecordIO, one record per input record, in input order.
    """
    return {
        "Model": model_request(training_job_name, model_data_uri, algorithm, region, role_arn, tags),
        "Transform": {
            "TransformJobName": job_name,
            "ModelName": resource_name(training_job_name),
            "BatchStrategy": "MultiRecord",
            "MaxPayloadInMB": BATCH_MAX_PAYLOAD_MB,
            "TransformInput": {
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": input_uri}},
                "ContentType": RECORDIO_CONTENT_TYPE,
                "SplitType": "RecordIO",
                "CompressionType": "None",
            },
            "TransformOutput": {"S3OutputPath": output_uri, "Accept": RECORDIO_CONTENT_TYPE, "AssembleWith": "None"},
            "TransformResources": {"InstanceType": instance_type, "InstanceCount": 1},
            "Tags": _tags(tags),
        },
    }


def _channel(name: str, uri: str, distribution: str) -> dict:
    """An input channel of every RecordIO-protobuf object under the S3 prefix `uri`."""
    return {
        "ChannelName": name,
        "DataSource": {
            "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri, "S3DataDistributionType": distribution}
        },
        "ContentType": RECORDIO_CONTENT_TYPE,
    }


def _hyperparameter(value: object) -> str:
    """Hyperparameters travel as strings; booleans and lists as the SDK writes them (lists as JSON)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return json.dumps(list(value))
    return str(value)


def _tags(tags: dict[str, str] | None) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in (tags or {}).items()]
