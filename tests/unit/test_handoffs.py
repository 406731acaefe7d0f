"""What tasks hand each other through XCom is typed, and stays plain JSON: names, counts and URIs."""

from __future__ import annotations

import json
import types
import typing
from datetime import UTC, datetime
from typing import Any

import pytest
from airflow.sdk.serde import deserialize, serialize

from include.airflow_popseg import handoffs
from include.airflow_popseg.operators import training_result

HANDOFFS = sorted(
    (value for value in vars(handoffs).values() if typing.is_typeddict(value)), key=lambda handoff: handoff.__name__
)
JSON_LEAVES = (str, int, float, bool, types.NoneType)


def _non_json(hint: object, where: str) -> list[str]:
    """Where `hint` admits a value that is not JSON (a datetime, a tuple, bytes, a dataclass …)."""
    origin, arguments = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any or hint in JSON_LEAVES:
        return []
    if typing.is_typeddict(hint):
        return [problem for name, field in typing.get_type_hints(hint).items() for problem in _non_json(field, name)]
    if origin in (types.UnionType, typing.Union):
        return [problem for argument in arguments for problem in _non_json(argument, where)]
    if origin is dict and arguments[0] is str:
        return _non_json(arguments[1], where)
    if origin is list:
        return _non_json(arguments[0], where)
    return [f"{where}: {hint}"]


def _sample(hint: object) -> object:
    """A value of type `hint`, every field filled."""
    origin, arguments = typing.get_origin(hint), typing.get_args(hint)
    if typing.is_typeddict(hint):
        return {name: _sample(field) for name, field in typing.get_type_hints(hint).items()}
    if origin in (types.UnionType, typing.Union):
        return _sample(next(argument for argument in arguments if argument is not types.NoneType))
    if origin is dict:
        return {"key": _sample(arguments[1])}
    if origin is list:
        return [_sample(arguments[0])]
    return {str: "s3://popseg/segmentation/work/tok/file", int: 3, float: 0.8, bool: True}.get(hint, {"Key": "v"})


def test_the_module_types_the_payload_of_every_task_that_hands_one_on() -> None:
    assert {handoff.__name__ for handoff in HANDOFFS} >= {
        "Prepared",
        "TrainingResult",
        "Chosen",
        "EndpointPlan",
        "Transformed",
        "Assigned",
        "Published",
        "SweepReport",
    }


@pytest.mark.parametrize("handoff", HANDOFFS, ids=lambda handoff: handoff.__name__)
def test_every_field_of_a_handoff_is_json(handoff) -> None:
    assert _non_json(handoff, handoff.__name__) == []


def test_a_field_that_is_not_json_is_found() -> None:
    class Timed(typing.TypedDict):
        uri: str
        start: datetime | None

    assert _non_json(Timed, "Timed") == ["start: <class 'datetime.datetime'>"]


@pytest.mark.parametrize("handoff", HANDOFFS, ids=lambda handoff: handoff.__name__)
def test_a_handoff_is_stored_in_xcom_as_plain_json_and_read_back_equal(handoff) -> None:
    value = _sample(handoff)
    stored = serialize(value)
    assert stored == value  # no serde class wrapper: the UI shows the payload as it is
    assert deserialize(json.loads(json.dumps(stored))) == value


def test_the_training_operators_result_is_a_training_result_in_plain_json() -> None:
    description = {
        "TrainingJobName": "popseg-pca-tok",
        "TrainingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/popseg-pca-tok",
        "TrainingJobStatus": "Completed",
        "ModelArtifacts": {"S3ModelArtifacts": "s3://popseg/segmentation/work/tok/models/model.tar.gz"},
        "HyperParameters": {"feature_dim": "34"},
        "TrainingStartTime": datetime(2026, 1, 1, 2, 0, tzinfo=UTC),
        "TrainingEndTime": datetime(2026, 1, 1, 2, 5, tzinfo=UTC),
        "TrainingTimeInSeconds": 300,
        "BillableTimeInSeconds": 300,
        "ResourceConfig": {"InstanceCount": 2},
    }
    result = training_result(description)
    assert set(result) == set(typing.get_type_hints(handoffs.TrainingResult))
    assert result["start"] == "2026-01-01T02:00:00+00:00" and result["instance_count"] == 2
    assert json.loads(json.dumps(serialize(result))) == result
