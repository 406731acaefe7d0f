"""Tearing down an endpoint, its endpoint config and its model, whatever state they are in.

Takes a boto3 SageMaker client (the provider's hook gives one); no Airflow imports.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from botocore.exceptions import ClientError

log = logging.getLogger(__name__)
IN_PROGRESS = ("Creating", "Updating", "SystemUpdating", "RollingBack")


def delete_endpoint_stack(
    client,  # a boto3 SageMaker client
    endpoint: str,
    endpoint_config: str,
    model: str | None,
    poll_seconds: float = 30.0,
    timeout_seconds: float = 3600.0,
    sleep: Callable[[float], None] = time.sleep,
) -> list[str]:
    """Delete the endpoint (waiting out Creating/Updating first), then its config and model.

    What is already gone is fine. Returns what was deleted, e.g. ["endpoint", "endpoint config"].
    """
    deleted = []
    deadline = time.monotonic() + timeout_seconds
    status = _endpoint_status(client, endpoint)
    while status in IN_PROGRESS:
        if time.monotonic() > deadline:
            raise TimeoutError(f"endpoint {endpoint} stayed {status} for {timeout_seconds:.0f} s")
        log.info("endpoint %s is %s; waiting before deleting it", endpoint, status)
        sleep(poll_seconds)
        status = _endpoint_status(client, endpoint)
    if status is not None and status != "Deleting":
        _ignore_missing(lambda: client.delete_endpoint(EndpointName=endpoint))
        deleted.append("endpoint")
    while _endpoint_status(client, endpoint) is not None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"endpoint {endpoint} was not deleted within {timeout_seconds:.0f} s")
        sleep(min(poll_seconds, 5.0))
    if _ignore_missing(lambda: client.delete_endpoint_config(EndpointConfigName=endpoint_config)):
        deleted.append("endpoint config")
    if model and _ignore_missing(lambda: client.delete_model(ModelName=model)):
        deleted.append("model")
    log.info("deleted for %s: %s", endpoint, ", ".join(deleted) or "nothing (already gone)")
    return deleted


def _endpoint_status(client, endpoint: str) -> str | None:
    try:
        return client.describe_endpoint(EndpointName=endpoint)["EndpointStatus"]
    except ClientError as error:
        if _missing(error):
            return None
        raise


def _ignore_missing(call: Callable[[], object]) -> bool:
    """Run a delete; True when it deleted something, False when there was nothing to delete."""
    try:
        call()
    except ClientError as error:
        if _missing(error):
            return False
        raise
    return True


def _missing(error: ClientError) -> bool:
    # SageMaker answers "not found" as ValidationException "Could not find …".
    details = error.response.get("Error", {})
    return details.get("Code") == "ValidationException" and "Could not find" in details.get("Message", "")
