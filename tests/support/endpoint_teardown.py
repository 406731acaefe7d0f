"""What the endpoint teardown's tests run it with outside a DAG run: an endpoint's stack in the emulator, the task
context a try sees, and a trigger run as the triggerer runs it (to its first event)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

from tests.support.sagemaker_requests import KMEANS_IMAGE, ROLE


class TryXComs:
    """The XComs of one try of a task, as `context["ti"]` pushes and pulls them (a retry starts with none)."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.values[key] = value

    def xcom_pull(self, task_ids: str, key: str) -> Any:
        return self.values.get(key)


@contextlib.contextmanager
def task_context(run_id: str) -> Iterator[dict[str, Any]]:
    """The context of a try of a task of run `run_id` (no params), current for the block as during a try."""
    from airflow.sdk.execution_time.context import set_current_context

    context = {"params": {}, "run_id": run_id, "ti": TryXComs()}
    with set_current_context(context):
        yield context


def endpoint_plan(name: str) -> dict[str, Any]:
    """The EndpointPlan of a K-Means model, config and endpoint all named `name` (one ml.m5.large)."""
    variant = {"VariantName": "AllTraffic", "ModelName": name, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}
    return {
        "Model": {"ModelName": name, "ExecutionRoleArn": ROLE, "PrimaryContainer": {"Image": KMEANS_IMAGE}},
        "EndpointConfig": {"EndpointConfigName": name, "ProductionVariants": [variant]},
        "Endpoint": {"EndpointName": name, "EndpointConfigName": name},
    }


def create_endpoint(sagemaker, plan: dict[str, Any], model_data: str) -> None:
    """What `plan` names, created without waiting: the model of `model_data` (an absent artifact makes the
    endpoint Failed), its config and the endpoint (Creating)."""
    container = {**plan["Model"]["PrimaryContainer"], "ModelDataUrl": model_data}
    sagemaker.create_model(**{**plan["Model"], "PrimaryContainer": container})
    sagemaker.create_endpoint_config(**plan["EndpointConfig"])
    sagemaker.create_endpoint(**plan["Endpoint"])


def trigger_events(trigger) -> list[dict[str, Any]]:
    """The payloads of every event `trigger.run()` yields until it ends, run as the triggerer runs it (asyncio;
    the triggerer keeps only the first)."""

    async def events() -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    return asyncio.run(events())
