"""Which SageMaker errors say "not found": each shape SageMaker answers, and the ValidationExceptions that do not."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from include.segmentation_aws.sagemaker_errors import is_not_found
from include.segmentation_aws.sweep import find_sagemaker

ARN = "arn:aws:sagemaker:us-east-1:123456789012"


def _error(code: str, message: str, operation: str = "Op") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


def test_a_missing_training_job_is_not_found() -> None:
    # DescribeTrainingJob and StopTrainingJob: a ValidationException, not the ResourceNotFound the model declares.
    assert is_not_found(_error("ValidationException", "Requested resource not found.", "DescribeTrainingJob"))


def test_a_missing_transform_job_is_not_found() -> None:
    # DescribeTransformJob and StopTransformJob: the ACK SageMaker controller maps this message to 404.
    message = "Could not find requested job with name popseg-pca-20261206t020000-1a2b3c4d5e6f7a8b"
    assert is_not_found(_error("ValidationException", message, "DescribeTransformJob"))


def test_a_missing_model_is_not_found() -> None:
    assert is_not_found(_error("ValidationException", f'Could not find model "{ARN}:model/popseg-pca-x".'))


def test_a_missing_endpoint_config_is_not_found() -> None:
    message = f'Could not find endpoint configuration "{ARN}:endpoint-config/popseg-pca-x".'
    assert is_not_found(_error("ValidationException", message))


def test_a_missing_endpoint_is_not_found() -> None:
    assert is_not_found(_error("ValidationException", f'Could not find endpoint "{ARN}:endpoint/popseg-pca-x".'))


def test_a_resource_named_by_an_arn_that_does_not_exist_is_not_found() -> None:
    # ListTags of a resource deleted since it was listed; SageMaker's ARN-addressed resources answer the same.
    assert is_not_found(_error("ValidationException", f"Resource {ARN}:endpoint/popseg-pca-x does not exist."))


def test_resource_not_found_as_the_service_model_declares_it_is_not_found() -> None:
    assert is_not_found(_error("ResourceNotFound", "Resource being access is not found.", "StopTrainingJob"))


def test_a_parameter_that_breaks_a_constraint_is_not_not_found() -> None:
    message = (
        "1 validation error detected: Value 'bad name' at 'endpointName' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9])*"
    )
    assert not is_not_found(_error("ValidationException", message))


def test_an_endpoint_still_in_progress_is_not_not_found() -> None:
    message = f'Cannot update in-progress endpoint "{ARN}:endpoint/popseg-pca-x".'
    assert not is_not_found(_error("ValidationException", message))


def test_model_data_that_cannot_be_read_is_not_a_missing_model() -> None:
    message = "Could not find model data at s3://popseg/segmentation/work/x/model.tar.gz."
    assert not is_not_found(_error("ValidationException", message, "CreateModel"))


def test_an_arn_in_the_wrong_region_is_not_not_found() -> None:
    assert not is_not_found(_error("ValidationException", "ARN should be scoped to correct region: us-west-2"))


def test_a_not_found_message_under_another_code_is_not_not_found() -> None:
    assert not is_not_found(_error("AccessDeniedException", "Requested resource not found."))


def test_an_error_that_is_not_from_aws_is_not_not_found() -> None:
    assert not is_not_found(OSError("Could not find endpoint"))


class _ListsOneEndpoint:
    """A SageMaker client listing one popseg endpoint whose ListTags raises `tags_error`."""

    def __init__(self, tags_error: ClientError) -> None:
        self.tags_error = tags_error

    def get_paginator(self, operation: str):
        client = self

        class Paginator:
            def paginate(self, **_):
                if operation == "list_tags":
                    raise client.tags_error
                if operation == "list_endpoints":
                    return [{"Endpoints": [
                        {"EndpointName": "popseg-pca-x", "EndpointArn": f"{ARN}:endpoint/popseg-pca-x",
                         "CreationTime": None, "EndpointStatus": "InService"},
                    ]}]  # fmt: skip
                key = {"list_endpoint_configs": "EndpointConfigs", "list_models": "Models",
                       "list_transform_jobs": "TransformJobSummaries"}  # fmt: skip
                return [{key.get(operation, "TrainingJobSummaries"): []}]

        return Paginator()


def test_the_sweeper_skips_a_resource_deleted_since_it_was_listed() -> None:
    gone = _error("ValidationException", f"Resource {ARN}:endpoint/popseg-pca-x does not exist.", "ListTags")
    assert find_sagemaker(_ListsOneEndpoint(gone)) == []


def test_the_sweeper_fails_on_a_validation_exception_that_is_not_not_found() -> None:
    refused = _error("ValidationException", "1 validation error detected: Value at 'resourceArn'", "ListTags")
    with pytest.raises(ClientError, match="1 validation error detected"):
        find_sagemaker(_ListsOneEndpoint(refused))
