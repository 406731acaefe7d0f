"""SageMaker requests, image registry and run-derived names."""

from __future__ import annotations

import hashlib
import re

import pytest

from include.segmentation_aws.images import image_uri
from include.segmentation_aws.names import MAX_NAME, RunNames
from include.segmentation_aws.requests import (
    endpoint_request,
    kmeans_hyperparameters,
    pca_hyperparameters,
    training_request,
)

NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")


@pytest.mark.parametrize(
    ("algorithm", "region", "uri"),
    [
        ("kmeans", "us-east-1", "382416733822.dkr.ecr.us-east-1.amazonaws.com/kmeans:1"),
        ("pca", "cn-north-1", "390948362332.dkr.ecr.cn-north-1.amazonaws.com.cn/pca:1"),
        ("pca", "eu-west-1", "438346466558.dkr.ecr.eu-west-1.amazonaws.com/pca:1"),
        ("pca", "us-iso-east-1", "490574956308.dkr.ecr.us-iso-east-1.c2s.ic.gov/pca:1"),
    ],
)
def test_image_uris_follow_the_registry_table(algorithm, region, uri) -> None:
    assert image_uri(algorithm, region) == uri


def test_unknown_regions_and_algorithms_are_refused() -> None:
    with pytest.raises(ValueError, match="not published for region 'mars-1'"):
        image_uri("pca", "mars-1")
    with pytest.raises(ValueError, match="xgboost"):
        image_uri("xgboost", "us-east-1")


@pytest.mark.parametrize(
    "run_id",
    [
        "scheduled__2026-11-23T02:00:00+00:00",
        "manual__2026-11-23T04:03:30.108407+00:00",
        "my custom run id with spaces and_underscores" * 3,
    ],
)
def test_run_names_are_valid_sagemaker_names(run_id) -> None:
    names = RunNames.for_run(run_id)
    for name in (names.training_job("kmeans"), names.endpoint("pca")):
        assert NAME.fullmatch(name) and len(name) <= 63


def test_the_longest_names_of_a_run_stay_within_sagemakers_limit() -> None:
    """kmeans is the longest algorithm; a model takes its job's name, a config its endpoint's."""
    names = RunNames.for_run("manual__2026-11-23T04:03:30.108407+00:00")
    for name in (names.training_job("kmeans"), names.endpoint("kmeans")):
        assert NAME.fullmatch(name) and len(name) <= MAX_NAME
        assert name.endswith(names.token)  # nothing of the token was cut to fit


def test_the_run_token_carries_64_bits_of_the_run_id() -> None:
    token = RunNames.for_run("manual__2026-11-23T02:00:00+00:00").token
    assert re.fullmatch(r"20261123t020000-[0-9a-f]{16}", token)


def test_run_ids_that_collided_in_a_32_bit_token_get_distinct_tokens() -> None:
    """Two run ids at the same second whose sha256 share their first 8 hex digits (found by a birthday search,
    as anyone who may trigger runs could): with 32 bits they shared every resource name."""
    first, second = "manual__2026-11-23T02:00:00+00:00-14579", "manual__2026-11-23T02:00:00+00:00-70505"
    assert hashlib.sha256(first.encode()).hexdigest()[:8] == hashlib.sha256(second.encode()).hexdigest()[:8]
    assert RunNames.for_run(first).token != RunNames.for_run(second).token
    assert RunNames.for_run(first).endpoint("pca") != RunNames.for_run(second).endpoint("pca")


def test_different_runs_never_share_names_even_at_the_same_second() -> None:
    nightly = RunNames.for_run("scheduled__2026-11-23T02:00:00+00:00")
    manual = RunNames.for_run("manual__2026-11-23T02:00:00+00:00")
    assert nightly.endpoint("pca") != manual.endpoint("pca")
    assert RunNames.for_run("manual__2026-11-23T02:00:00+00:00") == manual  # stable for retries


def test_training_request_is_a_create_training_job_request() -> None:
    config = training_request(
        name="popseg-pca-x",
        algorithm="pca",
        region="us-west-2",
        role_arn="arn:aws:iam::111122223333:role/r",
        train_uri="s3://b/train/",
        output_uri="s3://b/models",
        hyperparameters=pca_hyperparameters(34, 3218),
        instance_type="ml.c5.xlarge",
        max_runtime_seconds=7200,
        tags={"popseg:run": "x"},
    )
    assert config["AlgorithmSpecification"]["TrainingImage"].endswith("us-west-2.amazonaws.com/pca:1")
    assert config["HyperParameters"] == {
        "feature_dim": "34",
        "num_components": "33",
        "mini_batch_size": "500",
        "algorithm_mode": "regular",
        "subtract_mean": "true",
    }
    channel = config["InputDataConfig"][0]
    assert channel["ContentType"] == "application/x-recordio-protobuf"
    assert channel["DataSource"]["S3DataSource"] == {
        "S3DataType": "S3Prefix",
        "S3Uri": "s3://b/train/",
        "S3DataDistributionType": "FullyReplicated",
    }
    assert config["ResourceConfig"]["InstanceCount"] == 1
    assert config["Tags"] == [{"Key": "popseg:run", "Value": "x"}]
    assert config["StoppingCondition"] == {"MaxRuntimeInSeconds": 7200}


def _pca_request(**overrides) -> dict:
    return training_request(
        **{
            "name": "popseg-pca-x",
            "algorithm": "pca",
            "region": "us-east-1",
            "role_arn": "arn:aws:iam::111122223333:role/r",
            "train_uri": "s3://b/train/",
            "output_uri": "s3://b/models",
            "hyperparameters": pca_hyperparameters(34, 3218),
            "instance_type": "ml.c5.xlarge",
            "max_runtime_seconds": 7200,
            **overrides,
        }
    )


def test_several_instances_train_on_shards_of_the_channel() -> None:
    config = _pca_request(instance_count=3)
    assert config["ResourceConfig"]["InstanceCount"] == 3
    assert config["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3DataDistributionType"] == "ShardedByS3Key"


def test_no_instances_is_refused() -> None:
    with pytest.raises(ValueError, match="instance_count must be at least 1"):
        _pca_request(instance_count=0)


def test_pca_trains_features_minus_one_components_unless_asked() -> None:
    assert pca_hyperparameters(34, 3218)["num_components"] == 33
    assert pca_hyperparameters(34, 3218, num_components=10)["num_components"] == 10


def test_kmeans_mini_batch_never_exceeds_the_rows() -> None:
    assert kmeans_hyperparameters(7, 8, 300)["mini_batch_size"] == 300
    assert kmeans_hyperparameters(7, 8, 30_000)["mini_batch_size"] == 5000


def test_endpoint_request_deploys_the_job_that_ran() -> None:
    config = endpoint_request(
        endpoint_name="popseg-pca-run",
        training_job_name="popseg-pca-run-1795400000",
        model_data_uri="s3://b/m/popseg-pca-run-1795400000/output/model.tar.gz",
        algorithm="pca",
        region="us-east-1",
        role_arn="arn:aws:iam::111122223333:role/r",
        instance_type="ml.t2.medium",
    )
    assert config["Model"]["ModelName"] == "popseg-pca-run-1795400000"
    assert config["Model"]["PrimaryContainer"]["ModelDataUrl"].endswith("popseg-pca-run-1795400000/output/model.tar.gz")
    assert config["EndpointConfig"]["ProductionVariants"][0]["ModelName"] == "popseg-pca-run-1795400000"
    assert config["Endpoint"] == {"EndpointName": "popseg-pca-run", "EndpointConfigName": "popseg-pca-run", "Tags": []}


@pytest.mark.parametrize("num_components", [35, 2147483647, 0])
def test_pca_components_outside_one_to_the_feature_count_are_refused(num_components) -> None:
    with pytest.raises(ValueError, match=rf"num_components={num_components} must be 1 to 34, the number of features"):
        pca_hyperparameters(34, 3218, num_components)


def test_pca_may_compute_as_many_components_as_features() -> None:
    assert pca_hyperparameters(34, 3218, 34)["num_components"] == 34


def test_training_jobs_and_models_run_network_isolated() -> None:
    """iam/airflow-policy.json refuses CreateTrainingJob and CreateModel without it."""
    job = training_request(
        name="popseg-pca-x", algorithm="pca", region="us-east-1", role_arn="arn:aws:iam::1:role/r",
        train_uri="s3://b/train/", output_uri="s3://b/models", hyperparameters=pca_hyperparameters(34, 100),
        instance_type="ml.c5.xlarge", max_runtime_seconds=7200,
    )  # fmt: skip
    plan = endpoint_request(
        endpoint_name="popseg-pca-x", training_job_name="popseg-pca-x", model_data_uri="s3://b/m.tar.gz",
        algorithm="pca", region="us-east-1", role_arn="arn:aws:iam::1:role/r", instance_type="ml.t2.medium",
    )  # fmt: skip
    assert job["EnableNetworkIsolation"] is True and plan["Model"]["EnableNetworkIsolation"] is True


def test_num_components_above_the_features_read_fails_the_task_before_any_sagemaker_call() -> None:
    """The Param allows up to the census's 34 features; the file actually read is what bounds it."""
    from airflow.sdk.exceptions import AirflowFailException

    from include.airflow_popseg import steps
    from include.airflow_popseg.context import RunContext

    run = RunContext(params={"num_components": 34}, run_id="manual__2026-11-23T02:00:00+00:00", conn_id="none")
    with pytest.raises(AirflowFailException, match="num_components=34 must be 1 to 30, the number of features"):
        steps.pca_training(run, {"features": 30, "rows": 3218, "train_prefix": "s3://b/work/t/pca-train/"})
