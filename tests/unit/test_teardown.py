"""Endpoint teardown that nothing talks out of deleting, on a scripted SageMaker client (no AWS)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from include.segmentation_aws.endpoints import TeardownIncomplete, delete_endpoint_stack, start_endpoint_delete


def _error(code: str, message: str = "") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "Op")


class ScriptedSageMaker:
    """Endpoint, config and model that exist until deleted; `failures[call]` errors are raised first, in order."""

    def __init__(self, failures: dict[str, list[Exception]] | None = None, creating_polls: int = 0) -> None:
        self.alive = {"endpoint", "endpoint config", "model"}
        self.failures = failures or {}
        self.creating_polls = creating_polls  # DeleteEndpoint refused this many times (endpoint Creating)
        self.calls: list[str] = []

    def _call(self, name: str) -> None:
        self.calls.append(name)
        if self.failures.get(name):
            raise self.failures[name].pop(0)

    def _describe(self, name: str, kind: str) -> dict:
        self._call(name)
        if kind not in self.alive:
            raise _error("ValidationException", f"Could not find {kind} x.")
        return {}

    def _delete(self, name: str, kind: str) -> None:
        self._call(name)
        if kind == "endpoint" and self.creating_polls:
            self.creating_polls -= 1
            raise _error("ValidationException", "Cannot update in-progress endpoint")
        if kind not in self.alive:
            raise _error("ValidationException", f"Could not find {kind} x.")
        self.alive.discard(kind)

    def describe_endpoint(self, **_):
        return self._describe("describe_endpoint", "endpoint")

    def describe_endpoint_config(self, **_):
        return self._describe("describe_endpoint_config", "endpoint config")

    def describe_model(self, **_):
        return self._describe("describe_model", "model")

    def delete_endpoint(self, **_):
        self._delete("delete_endpoint", "endpoint")

    def delete_endpoint_config(self, **_):
        self._delete("delete_endpoint_config", "endpoint config")

    def delete_model(self, **_):
        self._delete("delete_model", "model")


def _teardown(client, timeout: float = 60.0) -> list[str]:
    return delete_endpoint_stack(client, "e", "e", "m", poll_seconds=4.0, timeout_seconds=timeout, sleep=lambda s: None)


def test_everything_is_deleted_and_verified_gone() -> None:
    client = ScriptedSageMaker()
    assert _teardown(client) == ["endpoint", "endpoint config", "model"] and client.alive == set()


def test_deletes_are_issued_even_when_describe_keeps_failing() -> None:
    client = ScriptedSageMaker({"describe_endpoint": [_error("InternalFailure", "boom")] * 5})
    assert _teardown(client) == ["endpoint", "endpoint config", "model"] and client.alive == set()
    assert client.calls[0] == "delete_endpoint"  # before any Describe


def test_throttled_and_failing_deletes_are_retried_until_they_pass() -> None:
    failures = {"delete_endpoint": [_error("ThrottlingException"), _error("ServiceUnavailable"), OSError("reset")],
                "delete_model": [_error("InternalFailure")]}  # fmt: skip
    client = ScriptedSageMaker(failures, creating_polls=2)
    assert _teardown(client) == ["endpoint", "endpoint config", "model"] and client.alive == set()


def test_what_cannot_be_deleted_in_time_fails_loudly_naming_it_and_the_rest_is_still_deleted() -> None:
    client = ScriptedSageMaker({"delete_endpoint": [_error("AccessDeniedException", "no")] * 1000})
    with pytest.raises(TeardownIncomplete, match=r"endpoint e \(AccessDeniedException: no\)"):
        _teardown(client, timeout=0.5)
    assert client.alive == {"endpoint"}  # config and model deleted all the same


def test_what_is_already_gone_is_fine() -> None:
    client = ScriptedSageMaker()
    client.alive.clear()
    assert _teardown(client) == []


def test_a_delete_answering_not_found_is_enough_while_describe_keeps_failing() -> None:
    client = ScriptedSageMaker({"describe_endpoint": [_error("ValidationException", "injected")] * 1000})
    client.alive.discard("endpoint")  # never created: the deploy failed on the same DescribeEndpoint
    assert _teardown(client, timeout=0.5) == ["endpoint config", "model"] and client.alive == set()


def _start(client) -> bool:
    return start_endpoint_delete(client, "e", deadline=float("inf"), poll_seconds=4.0, sleep=lambda s: None)


def test_starting_a_delete_issues_it_and_does_not_wait_for_the_endpoint_to_go() -> None:
    client = ScriptedSageMaker()
    assert _start(client) is True and client.calls == ["delete_endpoint"]


def test_starting_a_delete_issues_it_again_while_the_endpoint_is_creating() -> None:
    client = ScriptedSageMaker(creating_polls=3)
    assert _start(client) is True and client.calls.count("delete_endpoint") == 4


def test_starting_the_delete_of_an_endpoint_gone_already_has_nothing_to_wait_for() -> None:
    client = ScriptedSageMaker()
    client.alive.discard("endpoint")
    assert _start(client) is False


def test_starting_the_delete_of_an_endpoint_already_deleting_waits_for_it() -> None:
    class Deleting(ScriptedSageMaker):  # a retry after the first try's delete was accepted
        def describe_endpoint(self, **_):
            super().describe_endpoint()
            return {"EndpointStatus": "Deleting"}

    client = Deleting({"delete_endpoint": [_error("ValidationException", "Cannot update in-progress endpoint")]})
    assert _start(client) is True


def test_a_delete_that_keeps_failing_is_given_up_at_the_deadline() -> None:
    client = ScriptedSageMaker({"delete_endpoint": [_error("AccessDeniedException", "no")] * 1000})
    assert start_endpoint_delete(client, "e", deadline=0.0, sleep=lambda s: None) is False
    assert client.alive == {"endpoint", "endpoint config", "model"}
