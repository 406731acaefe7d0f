"""Endpoint teardown against the emulator: whatever state the endpoint is in, nothing is left."""

from __future__ import annotations

from include.segmentation_aws.endpoints import delete_endpoint_stack
from tests.support.sagemaker_requests import PCA_IMAGE, deploy


def test_an_in_service_endpoint_its_config_and_model_are_deleted(sagemaker, unique, pca_job) -> None:
    name = deploy(sagemaker, unique("stack"), PCA_IMAGE, pca_job["ModelArtifacts"]["S3ModelArtifacts"])
    deleted = delete_endpoint_stack(sagemaker, name, name, name, poll_seconds=0.2)
    assert deleted == ["endpoint", "endpoint config", "model"]
    assert not sagemaker.list_endpoints(NameContains=name)["Endpoints"]


def test_an_endpoint_still_creating_is_waited_out_then_deleted(sagemaker, unique, pca_job) -> None:
    from tests.support.sagemaker_requests import create_model_and_config as _config

    name = unique("creating")
    _config(sagemaker, name, PCA_IMAGE, pca_job["ModelArtifacts"]["S3ModelArtifacts"])
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
    assert sagemaker.describe_endpoint(EndpointName=name)["EndpointStatus"] == "Creating"
    assert delete_endpoint_stack(sagemaker, name, name, name, poll_seconds=0.2) == [
        "endpoint",
        "endpoint config",
        "model",
    ]


def test_what_is_already_gone_is_fine(sagemaker) -> None:
    assert delete_endpoint_stack(sagemaker, "never-made", "never-made", "never-made", poll_seconds=0.2) == []
