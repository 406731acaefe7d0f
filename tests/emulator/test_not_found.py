"""The emulator's "not found" answers are the shapes `is_not_found` knows, and its other refusals are not."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from include.segmentation_aws.sagemaker_errors import is_not_found

ARN = "arn:aws:sagemaker:us-east-1:123456789012"
MISSING_CALLS = {
    "describe_training_job": {"TrainingJobName": "popseg-nothing-here"},
    "stop_training_job": {"TrainingJobName": "popseg-nothing-here"},
    "describe_transform_job": {"TransformJobName": "popseg-nothing-here"},
    "stop_transform_job": {"TransformJobName": "popseg-nothing-here"},
    "describe_model": {"ModelName": "popseg-nothing-here"},
    "delete_model": {"ModelName": "popseg-nothing-here"},
    "describe_endpoint_config": {"EndpointConfigName": "popseg-nothing-here"},
    "delete_endpoint_config": {"EndpointConfigName": "popseg-nothing-here"},
    "describe_endpoint": {"EndpointName": "popseg-nothing-here"},
    "delete_endpoint": {"EndpointName": "popseg-nothing-here"},
    "list_tags": {"ResourceArn": f"{ARN}:endpoint/popseg-nothing-here"},
}


def _raised(call, **arguments) -> ClientError:
    with pytest.raises(ClientError) as raised:
        call(**arguments)
    return raised.value


@pytest.mark.parametrize("operation", sorted(MISSING_CALLS))
def test_each_call_on_a_missing_resource_is_not_found(sagemaker, operation) -> None:
    assert is_not_found(_raised(getattr(sagemaker, operation), **MISSING_CALLS[operation]))


def test_a_parameter_the_service_model_refuses_is_not_not_found(sagemaker) -> None:
    # MaxResults above the model's 100: botocore checks no maximum, the emulator's model-driven validation does.
    error = _raised(sagemaker.list_training_jobs, MaxResults=101)
    assert error.response["Error"]["Code"] == "ValidationException" and not is_not_found(error)
