"""The endpoint teardown's deferred wait and its fallback, against an emulator whose endpoints stay Deleting for
DELETING_SECONDS, through the fault proxy.

EndpointTeardownOperator issues DeleteEndpoint and defers to EndpointDeletedTrigger; a wait that ends in error
or times out resumes in the worker, which deletes the endpoint itself, config and model all the same, and
raises TeardownIncomplete naming what is left; a retry starts over. Each try runs here as the worker runs it
(execute, then the trigger as the triggerer runs it, then execute_complete with its event), with the task
context a try has.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from datetime import datetime

import numpy as np
import pytest
from botocore.exceptions import ClientError

from aws_emulator.connection import airflow_env, client
from aws_emulator.server import running_emulator
from include.sagemaker_formats.artifacts import write_kmeans_model
from include.segmentation_aws.endpoints import TeardownIncomplete
from include.segmentation_aws.sagemaker_errors import is_not_found
from tests.support.endpoint_teardown import create_endpoint, endpoint_plan, task_context, trigger_events
from tests.support.faults import Fault, FaultProxy, running_proxy

DELETING_SECONDS = 3.0  # each of the emulator's transitions (Creating too): longer than a timed-out wait here
CONN_ID = "teardown_through_proxy"
RUN_ID = "manual__2026-12-06T02:00:00+00:00"
ABSENT_MODEL = "s3://teardown/absent/model.tar.gz"  # an endpoint of it fails: EndpointStatus Failed


@pytest.fixture(scope="module")
def slow_emulator():
    with running_emulator(transition_seconds=DELETING_SECONDS) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def sagemaker(slow_emulator):
    """Straight to the emulator: what the test sets up and checks is never faulted."""
    return client("sagemaker", slow_emulator.endpoint_url)


@pytest.fixture(scope="module")
def model_data(slow_emulator) -> str:
    s3 = client("s3", slow_emulator.endpoint_url)
    s3.create_bucket(Bucket="teardown")
    centroids = np.arange(12, dtype="float32").reshape(3, 4)
    s3.put_object(Bucket="teardown", Key="model.tar.gz", Body=write_kmeans_model(centroids))
    return "s3://teardown/model.tar.gz"


@pytest.fixture(scope="module")
def proxy(slow_emulator) -> Iterator[FaultProxy]:
    """The connection the trigger and the task use (the run's, through its Variable) goes through the proxy."""
    from include.airflow_popseg import settings

    monkeypatch = pytest.MonkeyPatch()
    with running_proxy(slow_emulator.endpoint_url) as (fault_proxy, url):
        monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", airflow_env(url)["AIRFLOW_CONN_AWS_DEFAULT"])
        monkeypatch.setenv(f"AIRFLOW_VAR_{settings.CONN_ID_VARIABLE.upper()}", CONN_ID)
        yield fault_proxy
    monkeypatch.undo()


@pytest.fixture
def faults(proxy) -> Iterator[list[Fault]]:
    yield proxy.faults
    proxy.faults.clear()


@pytest.fixture
def name() -> str:
    return f"teardown-{uuid.uuid4().hex[:8]}"


def _trigger(name: str, waiter_delay: float = 0.2, waiter_max_attempts: int = 100, **kwargs):
    from include.airflow_popseg.triggers import EndpointDeletedTrigger

    return EndpointDeletedTrigger(
        endpoint_name=name, waiter_delay=waiter_delay, waiter_max_attempts=waiter_max_attempts, aws_conn_id=CONN_ID,
        **kwargs,
    )  # fmt: skip


def _teardown(plan: dict, timeout_seconds: float = 30):
    from include.airflow_popseg.operators import EndpointTeardownOperator

    return EndpointTeardownOperator(
        task_id="delete_kmeans_endpoint", plan=plan, aws_conn_id=CONN_ID, check_interval=0.2,
        timeout_seconds=timeout_seconds,
    )  # fmt: skip


def _status(sagemaker, name: str) -> str:
    """The endpoint's EndpointStatus, or "gone"."""
    try:
        return sagemaker.describe_endpoint(EndpointName=name)["EndpointStatus"]
    except ClientError as error:
        if is_not_found(error):
            return "gone"
        raise


def _wait_for(sagemaker, name: str, status: str) -> None:
    for _ in range(300):
        if _status(sagemaker, name) == status:
            return
        time.sleep(0.1)
    raise TimeoutError(f"endpoint {name} never {status}")


def _config_and_model_gone(sagemaker, name: str) -> bool:
    for describe in (
        lambda: sagemaker.describe_endpoint_config(EndpointConfigName=name),
        lambda: sagemaker.describe_model(ModelName=name),
    ):
        try:
            describe()
        except ClientError as error:
            if not is_not_found(error):
                raise
        else:
            return False
    return True


# The trigger ---------------------------------------------------------------------------------------------------


def test_the_trigger_fires_one_success_event_with_gone_at_for_an_endpoint_already_gone(proxy, name) -> None:
    (event,) = trigger_events(_trigger(name))
    assert (event["status"], event["endpoint_name"]) == ("success", name)
    assert datetime.fromisoformat(event["gone_at"]).utcoffset().total_seconds() == 0


def test_the_trigger_fires_the_providers_error_event_when_the_endpoint_outlasts_its_polls(
    proxy, sagemaker, model_data, name
) -> None:
    create_endpoint(sagemaker, endpoint_plan(name), model_data)
    _wait_for(sagemaker, name, "InService")
    sagemaker.delete_endpoint(EndpointName=name)
    (event,) = trigger_events(_trigger(name, waiter_delay=0.2, waiter_max_attempts=2))
    assert _status(sagemaker, name) == "Deleting", "the endpoint was gone before the polls ran out: nothing tested"
    assert event == {"status": "error", "endpoint_name": name, "message": "Waiter error: max attempts reached"}


def test_the_trigger_fires_an_error_event_naming_the_endpoint_when_it_is_failed(proxy, sagemaker, name) -> None:
    create_endpoint(sagemaker, endpoint_plan(name), ABSENT_MODEL)
    _wait_for(sagemaker, name, "Failed")
    (event,) = trigger_events(_trigger(name))
    assert (event["status"], event["endpoint_name"]) == ("error", name)
    assert event["message"].startswith(f"Error while waiting for endpoint {name} to be deleted: Failed")


def test_the_trigger_ends_in_an_error_event_naming_the_endpoint_while_describe_endpoint_keeps_failing(
    proxy, faults, name
) -> None:
    # InternalFailure every time: the provider's wait retries it without counting an attempt, and waited forever.
    faults.append(fault := Fault("DescribeEndpoint", "lost", name))
    no_retries = {"retries": {"mode": "standard", "total_max_attempts": 1}}  # botocore's own, for a short test
    (event,) = trigger_events(_trigger(name, waiter_delay=1, waiter_max_attempts=4, botocore_config=no_retries))
    assert fault.hits >= 2, "DescribeEndpoint was not retried: the provider's loop was not reached"
    assert (event["status"], event["endpoint_name"]) == ("error", name)
    assert event["message"] == (
        f"Endpoint {name} not seen gone after 5 s (4 polls every 1 s): DescribeEndpoint was still being "
        "retried (throttled or failing)"
    )


# The teardown's fallback ---------------------------------------------------------------------------------------


def test_a_timed_out_wait_resumes_in_the_worker_which_sees_the_deleting_endpoint_gone_and_deletes_the_rest(
    proxy, sagemaker, model_data, name, capfd
) -> None:
    from airflow.sdk.exceptions import TaskDeferred

    from include.airflow_popseg.triggers import EndpointDeletedTrigger

    plan = endpoint_plan(name)
    create_endpoint(sagemaker, plan, model_data)
    _wait_for(sagemaker, name, "InService")
    created = sagemaker.describe_endpoint(EndpointName=name)["CreationTime"]
    teardown = _teardown(plan)
    with task_context(RUN_ID) as context:
        with pytest.raises(TaskDeferred) as deferred:
            teardown.execute(context)
        _, kwargs = deferred.value.trigger.serialize()
        (event,) = trigger_events(EndpointDeletedTrigger(**{**kwargs, "waiter_max_attempts": 1}))  # times out
        assert (event["status"], _status(sagemaker, name)) == ("error", "Deleting")
        lifetime = teardown.execute_complete(context, event)
    assert (_status(sagemaker, name), _config_and_model_gone(sagemaker, name)) == ("gone", True)
    assert (lifetime["endpoint"], lifetime["instance_type"], lifetime["instance_count"]) == (name, "ml.m5.large", 1)
    assert datetime.fromisoformat(lifetime["created"]) == created
    assert datetime.fromisoformat(lifetime["deleted"]) > created
    assert (
        f"Waiting for endpoint {name} to be deleted ended without it gone (error: Waiter error: max attempts "
        "reached); deleting it from the worker"
    ) in "".join(capfd.readouterr())


def _teardown_left_with_delete_endpoint_failing(sagemaker, faults: list[Fault], name: str) -> TeardownIncomplete:
    """A try whose wait ended in error (the endpoint Failed) and whose DeleteEndpoint keeps failing, resumed in
    the worker with 2 s to delete: what it raised."""
    plan = endpoint_plan(name)
    create_endpoint(sagemaker, plan, ABSENT_MODEL)
    _wait_for(sagemaker, name, "Failed")
    (event,) = trigger_events(_trigger(name))
    assert event["status"] == "error"
    faults.append(Fault("DeleteEndpoint", "hard", name))
    with task_context(RUN_ID) as context, pytest.raises(TeardownIncomplete) as raised:
        _teardown(plan, timeout_seconds=2).execute_complete(context, event)
    return raised.value


def test_a_failed_wait_with_delete_endpoint_failing_names_the_endpoint_left_and_deletes_config_and_model(
    proxy, faults, sagemaker, name
) -> None:
    error = _teardown_left_with_delete_endpoint_failing(sagemaker, faults, name)
    # "after N s": the seconds left of the 2 s when the worker began deleting (1 on a loaded machine), not asserted
    left = f"endpoint {name} (ValidationException: injected hard fault on DeleteEndpoint)"
    assert re.fullmatch(rf"after [0-2] s these are left: {re.escape(left)}", str(error)), str(error)
    assert (_status(sagemaker, name), _config_and_model_gone(sagemaker, name)) == ("Failed", True)


def test_a_retry_with_the_fault_gone_deletes_the_endpoint_left_waiting_deferred(proxy, faults, sagemaker, name) -> None:
    from airflow.sdk.exceptions import TaskDeferred

    _teardown_left_with_delete_endpoint_failing(sagemaker, faults, name)
    faults.clear()
    created = sagemaker.describe_endpoint(EndpointName=name)["CreationTime"]
    teardown = _teardown(endpoint_plan(name))
    with task_context(RUN_ID) as context:  # the retry: a try of its own
        with pytest.raises(TaskDeferred) as deferred:
            teardown.execute(context)
        (event,) = trigger_events(deferred.value.trigger)
        lifetime = teardown.execute_complete(context, event)
    assert event["status"] == "success" and _status(sagemaker, name) == "gone"
    assert datetime.fromisoformat(lifetime["created"]) == created
    assert lifetime["deleted"] == event["gone_at"]


def test_a_retry_that_finds_the_endpoint_deleting_waits_for_it_deferred(proxy, sagemaker, model_data, name) -> None:
    from airflow.sdk.exceptions import TaskDeferred

    plan = endpoint_plan(name)
    create_endpoint(sagemaker, plan, model_data)
    _wait_for(sagemaker, name, "InService")
    sagemaker.delete_endpoint(EndpointName=name)  # the earlier try's delete, accepted
    teardown = _teardown(plan)
    with task_context(RUN_ID) as context:
        with pytest.raises(TaskDeferred) as deferred:
            teardown.execute(context)
        assert _status(sagemaker, name) == "Deleting"
        (event,) = trigger_events(deferred.value.trigger)
        lifetime = teardown.execute_complete(context, event)
    assert (event["status"], _status(sagemaker, name), _config_and_model_gone(sagemaker, name)) == (
        "success",
        "gone",
        True,
    )
    assert lifetime["deleted"] == event["gone_at"]


def test_a_retry_that_finds_everything_gone_completes_without_deferring(proxy, name) -> None:
    with task_context(RUN_ID) as context:
        lifetime = _teardown(endpoint_plan(name)).execute(context)
    assert lifetime == {
        "endpoint": name,
        "instance_type": "ml.m5.large",
        "instance_count": 1,
        "created": None,
        "deleted": None,
    }
