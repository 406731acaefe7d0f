"""Endpoints over the wire: Creating → InService, Failed with a reason, Updating, Deleting."""

from __future__ import annotations

import resource

import pytest
from botocore.exceptions import ClientError, WaiterError

from devtools import hostile_inputs
from tests.support.sagemaker_requests import KMEANS_IMAGE, PCA_IMAGE, deploy
from tests.support.sagemaker_requests import create_model_and_config as _config


def test_an_endpoint_is_creating_then_in_service(sagemaker, unique, pca_job) -> None:
    name = unique("endpoint")
    _config(sagemaker, name, PCA_IMAGE, pca_job["ModelArtifacts"]["S3ModelArtifacts"])
    arn = sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)["EndpointArn"]
    assert sagemaker.describe_endpoint(EndpointName=name)["EndpointStatus"] == "Creating"
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig={"Delay": 1})
    described = sagemaker.describe_endpoint(EndpointName=name)
    assert described["EndpointArn"] == arn and described["EndpointConfigName"] == name
    variant = described["ProductionVariants"][0]
    assert variant["VariantName"] == "AllTraffic" and variant["CurrentInstanceCount"] == 1
    assert variant["DeployedImages"][0]["SpecifiedImage"] == PCA_IMAGE
    assert name in [e["EndpointName"] for e in sagemaker.list_endpoints(NameContains=name)["Endpoints"]]


def test_missing_model_data_fails_the_endpoint_with_a_reason(sagemaker, unique, bucket) -> None:
    name = unique("broken")
    _config(sagemaker, name, PCA_IMAGE, f"s3://{bucket}/no/model.tar.gz")
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
    with pytest.raises(WaiterError):
        sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig={"Delay": 1})
    described = sagemaker.describe_endpoint(EndpointName=name)
    assert described["EndpointStatus"] == "Failed"
    assert f"Could not find model data at s3://{bucket}/no/model.tar.gz" in described["FailureReason"]
    sagemaker.delete_endpoint(EndpointName=name)  # a Failed endpoint can be deleted
    sagemaker.get_waiter("endpoint_deleted").wait(EndpointName=name, WaiterConfig={"Delay": 1})


def test_an_artifact_of_the_wrong_algorithm_fails_the_endpoint(sagemaker, unique, pca_job) -> None:
    name = unique("mismatch")
    _config(sagemaker, name, KMEANS_IMAGE, pca_job["ModelArtifacts"]["S3ModelArtifacts"])
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
    with pytest.raises(WaiterError):
        sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig={"Delay": 1})
    assert "not a K-Means model" in sagemaker.describe_endpoint(EndpointName=name)["FailureReason"]


@pytest.mark.parametrize("craft", [hostile_inputs.model_pax_repeated_twos, hostile_inputs.model_pax_digits])
def test_an_artifact_with_a_quadratic_pax_header_fails_the_endpoint_without_growing(
    sagemaker, s3, bucket, unique, tmp_path, craft
) -> None:
    # As SageMaker untars the model data while it deploys: the endpoint goes Failed, with the reason.
    name = unique("pax")
    s3.put_object(Bucket=bucket, Key=f"{name}/model.tar.gz", Body=craft(tmp_path).path.read_bytes())
    _config(sagemaker, name, KMEANS_IMAGE, f"s3://{bucket}/{name}/model.tar.gz")
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB; the emulator runs in this process
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
    with pytest.raises(WaiterError):
        sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig={"Delay": 1})
    described = sagemaker.describe_endpoint(EndpointName=name)
    assert described["EndpointStatus"] == "Failed"
    assert "pax extended header at byte 0 of model.tar.gz declares" in described["FailureReason"]
    assert "(MAX_EXTENDED_HEADER_BYTES)" in described["FailureReason"]
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before < 200 * 1024


def test_creating_an_endpoint_for_a_missing_config_is_refused(sagemaker) -> None:
    with pytest.raises(ClientError, match='Could not find endpoint configuration "arn:aws:sagemaker'):
        sagemaker.create_endpoint(EndpointName="orphan", EndpointConfigName="no-config")


def test_a_duplicate_endpoint_is_refused_as_the_provider_expects(sagemaker, pca_endpoint) -> None:
    with pytest.raises(ClientError) as error:
        sagemaker.create_endpoint(EndpointName=pca_endpoint, EndpointConfigName=pca_endpoint)
    assert error.value.response["Error"]["Message"].startswith("Cannot create already existing endpoint")


def test_deleting_an_endpoint_in_creating_is_refused(sagemaker, unique, pca_job) -> None:
    name = unique("young")
    _config(sagemaker, name, PCA_IMAGE, pca_job["ModelArtifacts"]["S3ModelArtifacts"])
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
    with pytest.raises(ClientError, match="Cannot update in-progress endpoint"):
        sagemaker.delete_endpoint(EndpointName=name)
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig={"Delay": 1})
    sagemaker.delete_endpoint(EndpointName=name)


def test_update_moves_the_endpoint_to_a_new_config(sagemaker, unique, pca_job) -> None:
    name, newer = unique("update"), unique("newer")
    artifact = pca_job["ModelArtifacts"]["S3ModelArtifacts"]
    deploy(sagemaker, name, PCA_IMAGE, artifact)
    _config(sagemaker, newer, PCA_IMAGE, artifact)
    sagemaker.update_endpoint(EndpointName=name, EndpointConfigName=newer)
    assert sagemaker.describe_endpoint(EndpointName=name)["EndpointStatus"] == "Updating"
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig={"Delay": 1})
    assert sagemaker.describe_endpoint(EndpointName=name)["EndpointConfigName"] == newer


def test_delete_goes_through_deleting_and_then_the_endpoint_is_gone(sagemaker, unique, pca_job) -> None:
    name = deploy(sagemaker, unique("bye"), PCA_IMAGE, pca_job["ModelArtifacts"]["S3ModelArtifacts"])
    sagemaker.delete_endpoint(EndpointName=name)
    assert sagemaker.describe_endpoint(EndpointName=name)["EndpointStatus"] == "Deleting"
    sagemaker.get_waiter("endpoint_deleted").wait(EndpointName=name, WaiterConfig={"Delay": 1})
    with pytest.raises(
        ClientError, match=f'Could not find endpoint "arn:aws:sagemaker:us-east-1:123456789012:endpoint/{name}"'
    ):
        sagemaker.describe_endpoint(EndpointName=name)


def test_deleting_model_and_config_keeps_a_running_endpoint_serving(sagemaker, runtime, unique, pca_job) -> None:
    name = deploy(sagemaker, unique("keeps"), PCA_IMAGE, pca_job["ModelArtifacts"]["S3ModelArtifacts"])
    sagemaker.delete_model(ModelName=name)
    sagemaker.delete_endpoint_config(EndpointConfigName=name)
    answer = runtime.invoke_endpoint(EndpointName=name, ContentType="text/csv", Body=b"1,2,3,4,5,6\n")
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
