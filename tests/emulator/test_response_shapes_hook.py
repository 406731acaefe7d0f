"""The response-shape hook sees every SageMaker call of the process, boto3's and aiobotocore's, and reports a
misfit answer by operation and member path (tests/support/response_shapes.py)."""

from __future__ import annotations

import asyncio

import pytest
from botocore.exceptions import ClientError

from aws_emulator.sagemaker.exceptions import ModelError
from aws_emulator.sagemaker.models import TrainingJob
from tests.support.response_shapes import ResponseShapeError, ResponseShapes


@pytest.fixture
def planted_misfit(responses_fit_botocore_shapes):
    """For a test that makes the emulator misfit on purpose: the suite's own hook forgets what it saw."""
    yield
    responses_fit_botocore_shapes.errors.clear()


def _misdescribe(monkeypatch, **changes) -> None:
    described = TrainingJob.describe
    monkeypatch.setattr(TrainingJob, "describe", lambda job: {**described(job), **changes})


def test_every_call_of_a_boto3_client_is_recorded_with_its_status(sagemaker, pca_job) -> None:
    with ResponseShapes() as shapes:
        sagemaker.describe_training_job(TrainingJobName=pca_job["TrainingJobName"])
        sagemaker.list_training_jobs(MaxResults=2)
        with pytest.raises(ClientError):
            sagemaker.describe_training_job(TrainingJobName="no-such-job")
    assert shapes.calls == [
        ("sagemaker", "DescribeTrainingJob", 200),
        ("sagemaker", "ListTrainingJobs", 200),
        ("sagemaker", "DescribeTrainingJob", 400),
    ]
    assert shapes.errors == []


def test_calls_of_an_aiobotocore_client_are_recorded_too(emulator, pca_job) -> None:
    """The provider's deferred triggers poll through aiobotocore."""
    from aiobotocore.session import get_session

    async def describe() -> dict:
        async with get_session().create_client(
            "sagemaker", endpoint_url=emulator.endpoint_url, region_name="us-east-1"
        ) as client:
            return await client.describe_training_job(TrainingJobName=pca_job["TrainingJobName"])

    with ResponseShapes() as shapes:
        described = asyncio.run(describe())
    assert described["TrainingJobStatus"] == "Completed"
    assert shapes.calls == [("sagemaker", "DescribeTrainingJob", 200)]
    assert shapes.errors == []


def test_a_status_outside_the_enum_is_reported_in_both_forms(sagemaker, pca_job, monkeypatch, planted_misfit) -> None:
    _misdescribe(monkeypatch, SecondaryStatus="Foo")
    with ResponseShapes() as shapes:
        sagemaker.describe_training_job(TrainingJobName=pca_job["TrainingJobName"])
    reported = [error.split(" (")[0] for error in shapes.errors]
    assert "sagemaker parsed DescribeTrainingJob.SecondaryStatus: 'Foo' not in enum SecondaryStatus" in reported
    assert "sagemaker wire DescribeTrainingJob.SecondaryStatus: 'Foo' not in enum SecondaryStatus" in reported
    with pytest.raises(ResponseShapeError, match="'Foo' not in enum SecondaryStatus"):
        shapes.assert_fit()


def test_a_member_the_model_does_not_know_is_reported_from_the_wire(
    sagemaker, pca_job, monkeypatch, planted_misfit
) -> None:
    """botocore's parser drops it without a word: only the body as sent shows it."""
    _misdescribe(monkeypatch, FinalMetricsDataList=[])
    with ResponseShapes() as shapes:
        sagemaker.describe_training_job(TrainingJobName=pca_job["TrainingJobName"])
    assert shapes.errors == [
        "sagemaker wire DescribeTrainingJob.FinalMetricsDataList: not a member of DescribeTrainingJobResponse"
    ]


def test_the_hook_is_removed_on_exit(sagemaker, pca_job, monkeypatch, planted_misfit) -> None:
    _misdescribe(monkeypatch, SecondaryStatus="Foo")
    with ResponseShapes() as shapes:
        pass
    sagemaker.describe_training_job(TrainingJobName=pca_job["TrainingJobName"])
    assert shapes.calls == [] and shapes.errors == []


def test_a_modeled_error_with_another_http_status_is_reported(
    runtime, pca_endpoint, monkeypatch, planted_misfit
) -> None:
    monkeypatch.setattr(ModelError, "status", 400)
    with ResponseShapes() as shapes, pytest.raises(ClientError):
        runtime.invoke_endpoint(EndpointName=pca_endpoint, Body=b"1,2,3", ContentType="text/csv")
    assert shapes.calls == [("sagemaker-runtime", "InvokeEndpoint", 400)]
    assert shapes.errors == [
        "sagemaker-runtime parsed InvokeEndpoint error ModelError: HTTP 400, the model's ModelError is HTTP 424"
    ]
