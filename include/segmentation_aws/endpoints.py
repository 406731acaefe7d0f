"""Endpoint I/O: every row through a real-time endpoint in payloads under its size cap, and tearing an
endpoint, its endpoint config and its model down whatever state they are in.

Takes boto3 clients (the provider's hooks give them); no Airflow imports.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

import numpy as np
from botocore.exceptions import ClientError

from include.sagemaker_formats.recordio import RECORDIO_CONTENT_TYPE, decode_labels, encode_dense

log = logging.getLogger(__name__)
IN_PROGRESS = ("Creating", "Updating", "SystemUpdating", "RollingBack")
MAX_PAYLOAD_BYTES = 5_000_000  # under InvokeEndpoint's 6 MB cap with room to spare

Invoke = Callable[[bytes], bytes]  # a RecordIO-protobuf request body -> the endpoint's RecordIO answer


def invoker(runtime, endpoint: str) -> Invoke:
    """InvokeEndpoint on `endpoint` through a sagemaker-runtime client, RecordIO-protobuf both ways."""
    return lambda body: runtime.invoke_endpoint(
        EndpointName=endpoint, ContentType=RECORDIO_CONTENT_TYPE, Accept=RECORDIO_CONTENT_TYPE, Body=body
    )["Body"].read()


def batches(rows: np.ndarray, max_bytes: int = MAX_PAYLOAD_BYTES) -> Iterator[np.ndarray]:
    """Consecutive row blocks whose RecordIO-protobuf encoding stays under `max_bytes`."""
    per_row = len(encode_dense(np.ascontiguousarray(rows[:1])))
    step = max(1, max_bytes // per_row)
    for start in range(0, len(rows), step):
        yield np.ascontiguousarray(rows[start : start + step])


def transform(rows: np.ndarray, invoke: Invoke, max_bytes: int = MAX_PAYLOAD_BYTES) -> dict[str, np.ndarray]:
    """Every row of (n_rows, d) through an endpoint: label key -> (n_rows, width), in row order."""
    answers = [decode_labels(invoke(encode_dense(block))) for block in batches(rows, max_bytes)]
    if not answers:
        raise ValueError("no rows to transform")
    return {key: np.concatenate([a[key] for a in answers]) for key in answers[0]}


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
        ignore_missing(lambda: client.delete_endpoint(EndpointName=endpoint))
        deleted.append("endpoint")
    while _endpoint_status(client, endpoint) is not None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"endpoint {endpoint} was not deleted within {timeout_seconds:.0f} s")
        sleep(min(poll_seconds, 5.0))
    if ignore_missing(lambda: client.delete_endpoint_config(EndpointConfigName=endpoint_config)):
        deleted.append("endpoint config")
    if model and ignore_missing(lambda: client.delete_model(ModelName=model)):
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


def ignore_missing(call: Callable[[], object]) -> bool:
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
