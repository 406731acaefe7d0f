"""The endpoint teardown's deferred wait and its fallback, against an emulator whose endpoints stay Deleting for
DELETING_SECONDS, through the fault proxy.

EndpointTeardownOperator issues DeleteEndpoint and defers to EndpointDeletedTrigger; a wait that ends in error
or times out resumes in the worker, which deletes the endpoint itself, config and model all the same, and
raises TeardownIncomplete naming what is left; a retry starts over. Each try runs here as the worker runs it
(execute, then the trigger as the triggerer runs it, then execute_complete with its event), with the task
context a try has.
"""

from __future__ import annotations

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
from include.segmentation_aws.sagemaker_errors import is_not_found
from tests.support.endpoint_teardown import endpoint_plan, trigger_events
from tests.support.faults import Fault, FaultProxy, running_proxy

DELETING_SECONDS = 3.0  # each of the emulator's transitions (Creating too): longer than a timed-out wait here
CONN_ID = "teardown_through_proxy"
RUN_ID = "manual__2026-12-06T02:00:00+00:00"


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


def test_the_trigger_fires_one_success_event_with_gone_at_for_an_endpoint_gone(proxy, name) -> None:
    (event,) = trigger_events(_trigger(name))
    assert (event["status"], event["endpoint_name"]) == ("success", name)
    assert datetime.fromisoformat(event["gone_at"]).utcoffset().total_seconds() == 0


def test_the_trigger_fires_the_providers_error_event_when_the_endpoint_outlasts_its_polls(
    proxy, sagemaker, model_data, name
) -> None:
    endpoint_plan(sagemaker, name, model_data)
    _wait_for(sagemaker, name, "InService")
    sagemaker.delete_endpoint(EndpointName=name)
    (event,) = trigger_events(_trigger(name, waiter_delay=0.2, waiter_max_attempts=2))
    assert _status(sagemaker, name) == "Deleting", "the endpoint was gone before the polls ran out: nothing tested"
    assert event == {"status": "error", "endpoint_name": name, "message": "Waiter error: max attempts reached"}


def test_the_trigger_fires_an_error_event_naming_the_endpoint_when_it_is_failed(proxy, sagemaker, name) -> None:
    endpoint_plan(sagemaker, name, "s3://teardown/absent/model.tar.gz")
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
