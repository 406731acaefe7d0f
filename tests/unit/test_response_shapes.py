"""The response-shape oracle: an answer that misfits botocore's output shape is refused, naming the member."""

from __future__ import annotations

import copy
import datetime
import io
import json

import pytest
from botocore.response import StreamingBody

from tests.support.response_shapes import (
    ResponseShapeError,
    ResponseShapes,
    check_response,
    documented_errors,
    error_errors,
    operation_model,
    shape_errors,
)

NOW = datetime.datetime(2026, 12, 6, 10, 0, tzinfo=datetime.UTC)
ARN = "arn:aws:sagemaker:us-east-1:123456789012:training-job/kmeans-k4"


def _described(**changes) -> dict:
    """A parsed DescribeTrainingJob answer that fits, with `changes` applied."""
    answer = {
        "TrainingJobName": "kmeans-k4",
        "TrainingJobArn": ARN,
        "ModelArtifacts": {"S3ModelArtifacts": "s3://bucket/models/kmeans-k4/output/model.tar.gz"},
        "TrainingJobStatus": "Completed",
        "SecondaryStatus": "Completed",
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
        "CreationTime": NOW,
        "HyperParameters": {"k": "4", "feature_dim": "7"},
        "SecondaryStatusTransitions": [
            {"Status": "Starting", "StartTime": NOW, "EndTime": NOW},
            {"Status": "Completed", "StartTime": NOW, "EndTime": NOW},
        ],
        "FinalMetricDataList": [{"MetricName": "test:msd", "Value": 1.5, "Timestamp": NOW}],
        "EnableNetworkIsolation": False,
        "ResponseMetadata": {"HTTPStatusCode": 200},
    }
    answer.update(changes)
    return answer


def _errors(answer: dict, operation: str = "DescribeTrainingJob", **options) -> list[str]:
    return shape_errors(operation_model("sagemaker", operation), answer, **options)


def test_a_fitting_parsed_answer_has_no_errors() -> None:
    assert _errors(_described()) == []


def test_a_value_outside_the_enum_is_refused_with_its_path_and_enum() -> None:
    answer = _described()
    answer["SecondaryStatusTransitions"] = [*answer["SecondaryStatusTransitions"], {"Status": "Foo", "StartTime": NOW}]
    (error,) = _errors(answer)
    assert error.startswith(
        "DescribeTrainingJob.SecondaryStatusTransitions[2].Status: 'Foo' not in enum SecondaryStatus"
    )


def test_a_top_level_status_outside_the_enum_is_refused() -> None:
    assert _errors(_described(TrainingJobStatus="Succeeded")) == [
        "DescribeTrainingJob.TrainingJobStatus: 'Succeeded' not in enum TrainingJobStatus "
        "(InProgress, Completed, Failed, Stopping, Stopped, Deleting)"
    ]


def test_a_missing_required_member_is_refused_by_name() -> None:
    answer = _described()
    del answer["ModelArtifacts"]
    assert _errors(answer) == [
        "DescribeTrainingJob.ModelArtifacts: required member of DescribeTrainingJobResponse is missing"
    ]


def test_a_null_required_member_is_refused_as_missing() -> None:
    (error,) = _errors(_described(SecondaryStatus=None))
    assert error == "DescribeTrainingJob.SecondaryStatus: required member of DescribeTrainingJobResponse is missing"


def test_a_missing_required_member_of_a_nested_structure_is_refused() -> None:
    answer = _described()
    answer["SecondaryStatusTransitions"][0] = {"Status": "Starting"}
    assert _errors(answer) == [
        "DescribeTrainingJob.SecondaryStatusTransitions[0].StartTime: "
        "required member of SecondaryStatusTransition is missing"
    ]


def test_a_string_where_an_integer_belongs_is_refused() -> None:
    assert _errors(_described(StoppingCondition={"MaxRuntimeInSeconds": "600"})) == [
        "DescribeTrainingJob.StoppingCondition.MaxRuntimeInSeconds: "
        "str '600' where MaxRuntimeInSeconds (integer) is an integer"
    ]


def test_a_boolean_is_not_taken_for_a_number() -> None:
    (error,) = _errors(_described(BillableTimeInSeconds=True))
    assert "BillableTimeInSeconds: bool True where BillableTimeInSeconds (integer) is an integer" in error


def test_a_string_where_a_float_belongs_is_refused() -> None:
    answer = _described(FinalMetricDataList=[{"MetricName": "test:msd", "Value": "1.5"}])
    assert _errors(answer) == [
        "DescribeTrainingJob.FinalMetricDataList[0].Value: str '1.5' where Float (float) is a number"
    ]


def test_a_number_where_a_string_belongs_is_refused_in_a_map() -> None:
    (error,) = _errors(_described(HyperParameters={"k": 4}))
    assert error == "DescribeTrainingJob.HyperParameters['k']: int 4 where HyperParameterValue (string) is a string"


def test_a_parsed_timestamp_must_be_an_aware_datetime() -> None:
    assert _errors(_described(CreationTime=1765015200.0)) == [
        "DescribeTrainingJob.CreationTime: float 1765015200.0 where Timestamp (timestamp) is an aware datetime"
    ]


def test_a_wire_timestamp_must_be_epoch_seconds() -> None:
    (error,) = _errors({**_wire(), "CreationTime": "2026-12-06T10:00:00Z"}, wire=True)
    assert error == (
        "DescribeTrainingJob.CreationTime: str '2026-12-06T10:00:00Z' where Timestamp (timestamp) "
        "is epoch seconds (a number)"
    )


def test_a_fitting_wire_document_has_no_errors() -> None:
    assert _errors(_wire(), wire=True) == []


def test_an_unknown_member_is_refused_by_name() -> None:
    (error,) = _errors({**_wire(), "FinalMetricsDataList": []}, wire=True)
    assert error == "DescribeTrainingJob.FinalMetricsDataList: not a member of DescribeTrainingJobResponse"


def test_an_unknown_member_of_a_nested_structure_is_refused() -> None:
    wire = _wire()
    wire["SecondaryStatusTransitions"][0]["Message"] = "Starting"
    (error,) = _errors(wire, wire=True)
    assert (
        error == "DescribeTrainingJob.SecondaryStatusTransitions[0].Message: not a member of SecondaryStatusTransition"
    )


def test_response_metadata_is_botocores_own_in_the_parsed_form_only() -> None:
    assert _errors(_described(), wire=False) == []
    assert _errors({**_wire(), "ResponseMetadata": {}}, wire=True) == [
        "DescribeTrainingJob.ResponseMetadata: not a member of DescribeTrainingJobResponse"
    ]


def test_a_string_longer_than_the_model_allows_is_refused() -> None:
    (error,) = _errors(_described(FailureReason="x" * 1025))
    assert error == "DescribeTrainingJob.FailureReason: 1025 characters, FailureReason allows at most 1024"


def test_a_string_that_breaks_the_models_pattern_is_refused() -> None:
    (error,) = _errors(_described(TrainingJobName="kmeans_k4"))
    assert error.startswith("DescribeTrainingJob.TrainingJobName: 'kmeans_k4' does not match TrainingJobName's pattern")


def test_a_list_longer_than_the_model_allows_is_refused() -> None:
    metrics = [{"MetricName": f"m{i}", "Value": 1.0, "Timestamp": NOW} for i in range(41)]
    (error,) = _errors(_described(FinalMetricDataList=metrics))
    assert error == "DescribeTrainingJob.FinalMetricDataList: 41 entries, FinalMetricDataList allows at most 40"


def test_a_number_below_the_models_minimum_is_refused() -> None:
    assert _errors(_described(StoppingCondition={"MaxRuntimeInSeconds": 0})) == [
        "DescribeTrainingJob.StoppingCondition.MaxRuntimeInSeconds: 0 is below MaxRuntimeInSeconds's minimum 1"
    ]


def test_a_list_where_a_structure_belongs_is_refused() -> None:
    (error,) = _errors(_described(ModelArtifacts=["s3://bucket/model.tar.gz"]))
    assert error == (
        "DescribeTrainingJob.ModelArtifacts: list ['s3://bucket/model.tar.gz'] "
        "where ModelArtifacts (structure) is an object"
    )


def test_every_misfit_is_listed_not_only_the_first() -> None:
    assert len(_errors(_described(TrainingJobStatus="Done", SecondaryStatus="Done", CreationTime=None))) == 3


def test_a_long_refused_value_is_shown_shortened() -> None:
    (error,) = _errors(_described(TrainingJobStatus="x" * 5000))
    assert "… (5,002 characters)" in error and len(error) < 400


def test_a_parsed_blob_may_be_a_stream() -> None:
    answer = {"Body": StreamingBody(io.BytesIO(b"{}"), 2), "ContentType": "application/json"}
    assert shape_errors(operation_model("sagemaker-runtime", "InvokeEndpoint"), answer) == []


def test_a_blob_that_is_text_is_refused() -> None:
    answer = {"Body": "{}", "ContentType": "application/json"}
    assert shape_errors(operation_model("sagemaker-runtime", "InvokeEndpoint"), answer) == [
        "InvokeEndpoint.Body: str '{}' where BodyBlob (blob) is bytes or a stream"
    ]


def test_check_response_raises_every_misfit_at_once() -> None:
    with pytest.raises(ResponseShapeError) as refused:
        check_response("sagemaker", "DescribeEndpoint", {"EndpointName": "e", "EndpointStatus": "Ready"})
    message = str(refused.value)
    assert "DescribeEndpoint.EndpointStatus: 'Ready' not in enum EndpointStatus" in message
    assert "DescribeEndpoint.EndpointArn: required member of DescribeEndpointOutput is missing" in message


def _documented(answer: dict, operation: str = "DescribeTrainingJob") -> list[str]:
    return documented_errors(operation_model("sagemaker", operation), answer)


@pytest.mark.parametrize(
    ("status", "secondary"),
    [("InProgress", "Training"), ("Stopped", "MaxRuntimeExceeded"), ("Stopped", "Stopped"), ("Stopping", "Stopping")],
)
def test_a_secondary_status_of_its_training_job_status_fits(status, secondary) -> None:
    transitions = [{"Status": "Starting", "StartTime": NOW}, {"Status": secondary, "StartTime": NOW}]
    answer = _described(TrainingJobStatus=status, SecondaryStatus=secondary, SecondaryStatusTransitions=transitions)
    assert _documented(answer) == []


def test_a_stopped_job_said_completed_is_refused() -> None:
    answer = _described(TrainingJobStatus="Stopped")
    assert _documented(answer) == [
        "DescribeTrainingJob.SecondaryStatus: 'Completed' under TrainingJobStatus Stopped (one of MaxRuntimeExceeded, "
        "Stopped)"
    ]


def test_a_secondary_status_sagemaker_no_longer_gives_is_refused() -> None:
    transitions = [{"Status": "LaunchingMLInstances", "StartTime": NOW}]
    answer = _described(
        TrainingJobStatus="InProgress", SecondaryStatus="LaunchingMLInstances", SecondaryStatusTransitions=transitions
    )
    (error,) = _documented(answer)
    assert error.startswith("DescribeTrainingJob.SecondaryStatus: 'LaunchingMLInstances' under TrainingJobStatus")


def test_a_last_transition_other_than_the_secondary_status_is_refused() -> None:
    answer = _described()
    answer["SecondaryStatusTransitions"][-1]["Status"] = "Uploading"
    assert _documented(answer) == [
        "DescribeTrainingJob.SecondaryStatusTransitions[1].Status: 'Uploading', the last transition is not the "
        "SecondaryStatus 'Completed'"
    ]


def test_a_failed_job_without_its_reason_is_refused() -> None:
    transitions = [{"Status": "Failed", "StartTime": NOW}]
    answer = _described(TrainingJobStatus="Failed", SecondaryStatus="Failed", SecondaryStatusTransitions=transitions)
    assert _documented(answer) == [
        "DescribeTrainingJob.FailureReason: missing from a Failed job (it says why it failed)"
    ]
    assert _documented({**answer, "FailureReason": "ClientError: k must be at most the rows"}) == []


def test_a_listed_job_is_held_to_the_same_statuses() -> None:
    summary = {"TrainingJobName": "kmeans-k4", "TrainingJobStatus": "Completed", "SecondaryStatus": "Training"}
    assert _documented({"TrainingJobSummaries": [summary]}, "ListTrainingJobs") == [
        "ListTrainingJobs.TrainingJobSummaries[0].SecondaryStatus: 'Training' under TrainingJobStatus Completed "
        "(one of Completed)"
    ]


def test_a_failed_endpoint_without_its_reason_is_refused() -> None:
    assert _documented({"EndpointName": "e", "EndpointStatus": "Failed"}, "DescribeEndpoint") == [
        "DescribeEndpoint.FailureReason: missing from a Failed endpoint (it says why it failed)"
    ]


def test_a_failed_transform_job_without_its_reason_is_refused() -> None:
    answer = {"TransformJobName": "t", "TransformJobStatus": "Failed"}
    assert _documented(answer, "DescribeTransformJob") == [
        "DescribeTransformJob.FailureReason: missing from a Failed transform job (it says why it failed)"
    ]
    assert (
        _documented(
            {**answer, "FailureReason": "ClientError: See job logs for more information"}, "DescribeTransformJob"
        )
        == []
    )


def _model_error(**changes) -> dict:
    """A parsed InvokeEndpoint ModelError answer that fits, with `changes` applied."""
    return {
        "Error": {"Code": "ModelError", "Message": "Received client error (400) from primary"},
        "OriginalStatusCode": 400,
        "OriginalMessage": "bad row",
        "LogStreamArn": "arn:aws:logs:us-east-1:123456789012:log-group:/aws/sagemaker/Endpoints/e",
        "ResponseMetadata": {"HTTPStatusCode": 424},
        **changes,
    }


def test_a_common_error_needs_only_a_code_and_a_message() -> None:
    answer = {"Error": {"Code": "ValidationException", "Message": "Requested resource not found."}}
    assert error_errors(operation_model("sagemaker", "DescribeTrainingJob"), 400, answer) == []


def test_an_error_without_a_code_is_refused() -> None:
    assert error_errors(operation_model("sagemaker", "DescribeTrainingJob"), 400, {"Error": {"Message": "x"}}) == [
        "DescribeTrainingJob error: no Error.Code in the 400 answer ({'Message': 'x'})"
    ]


def test_a_modeled_error_fits_its_own_shape() -> None:
    assert error_errors(operation_model("sagemaker-runtime", "InvokeEndpoint"), 424, _model_error()) == []


def test_a_modeled_error_with_another_http_status_is_refused() -> None:
    assert error_errors(operation_model("sagemaker-runtime", "InvokeEndpoint"), 400, _model_error()) == [
        "InvokeEndpoint error ModelError: HTTP 400, the model's ModelError is HTTP 424"
    ]


def test_a_modeled_errors_member_of_the_wrong_type_is_refused() -> None:
    answer = _model_error(OriginalStatusCode="400")
    assert error_errors(operation_model("sagemaker-runtime", "InvokeEndpoint"), 424, answer) == [
        "InvokeEndpoint error ModelError.OriginalStatusCode: str '400' where StatusCode (integer) is an integer"
    ]


def test_a_wire_body_with_nan_is_not_json() -> None:
    """Python's json would read it; botocore's parser too: a metric of NaN would pass unseen."""
    shapes = ResponseShapes()
    body = b'{"FinalMetricDataList": [{"MetricName": "test:msd", "Value": NaN}]}'
    shapes.record("sagemaker", operation_model("sagemaker", "DescribeTrainingJob"), 200, _described(), body)
    assert shapes.errors == ["sagemaker wire DescribeTrainingJob: the body is not JSON (NaN is not a JSON number)"]


def test_a_fitting_answer_is_recorded_without_errors() -> None:
    shapes = ResponseShapes()
    body = json.dumps(_wire()).encode()
    shapes.record("sagemaker", operation_model("sagemaker", "DescribeTrainingJob"), 200, _described(), body)
    assert shapes.calls == [("sagemaker", "DescribeTrainingJob", 200)] and shapes.errors == []


def test_a_check_that_breaks_is_recorded_not_raised_into_the_caller() -> None:
    shapes = ResponseShapes()
    shapes.record("sagemaker", operation_model("sagemaker", "DescribeTrainingJob"), 200, None, None)
    (error,) = shapes.errors
    assert error.startswith("sagemaker DescribeTrainingJob: the shape check itself failed (AttributeError(")


def _wire() -> dict:
    """The fitting answer as the JSON protocol sends it: epoch seconds, no ResponseMetadata."""
    epoch = NOW.timestamp()
    wire = copy.deepcopy(_described(CreationTime=epoch))
    del wire["ResponseMetadata"]
    for transition in wire["SecondaryStatusTransitions"]:
        transition.update(StartTime=epoch, EndTime=epoch)
    wire["FinalMetricDataList"][0]["Timestamp"] = epoch
    return wire
