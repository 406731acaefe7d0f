"""Endpoint I/O: every row through a real-time endpoint in payloads under its size cap, several requests
in flight at once, and tearing an endpoint, its endpoint config and its model down whatever state they are in.

Takes boto3 clients (the provider's hooks give them); no Airflow imports.

Retries of InvokeEndpoint, who covers what: the client's botocore config (standard mode, 5 attempts) retries
ThrottlingException and the other throttling codes, 500/502/503/504 (InternalFailure, ServiceUnavailable) and
connection errors. It does not retry ModelNotReadyException (HTTP 429, an endpoint that cannot take the load
yet) or any other 429: `transform` retries those, and throttling that outlasted botocore's attempts, with
bounded exponential backoff. Anything else (ModelError, ValidationError, …) fails at once.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

import numpy as np
from botocore.exceptions import ClientError

from include.sagemaker_formats.recordio import RECORDIO_CONTENT_TYPE, decode_labels, encode_dense
from include.segmentation.printable import printable
from include.segmentation_aws.sagemaker_errors import is_not_found

log = logging.getLogger(__name__)
# The first re-check after a delete: a short one, as deletes often finish in well under a poll interval;
# then the wait doubles up to the poll interval.
FIRST_CHECK_SECONDS = 0.25
# The most bytes of RecordIO one of our InvokeEndpoint requests carries: our batching budget, under
# SageMaker's 6 MB cap on a request body (6,291,456 bytes) with room to spare.
MAX_BATCH_BYTES = 5_000_000
MAX_CONCURRENCY = 64
# How many requests past the oldest unanswered one may be sent, per request in flight: answers that came in
# before it wait for it, so this bounds them (a slow request holds up at most AHEAD · concurrency answers).
AHEAD = 2
# Error codes worth asking again after a pause: the endpoint is busy, not wrong. Any HTTP 429 counts too.
THROTTLING_CODES = frozenset(
    {"ModelNotReadyException", "ThrottlingException", "Throttling", "TooManyRequestsException"}
)

Invoke = Callable[[bytes], bytes]  # a RecordIO-protobuf request body -> the endpoint's RecordIO answer


def invoker(runtime, endpoint: str) -> Invoke:
    """InvokeEndpoint on `endpoint` through a sagemaker-runtime client, RecordIO-protobuf both ways."""
    return lambda body: runtime.invoke_endpoint(
        EndpointName=endpoint, ContentType=RECORDIO_CONTENT_TYPE, Accept=RECORDIO_CONTENT_TYPE, Body=body
    )["Body"].read()


def batches(rows: np.ndarray, max_bytes: int = MAX_BATCH_BYTES) -> Iterator[np.ndarray]:
    """Consecutive row blocks whose RecordIO-protobuf encoding stays under `max_bytes`."""
    step = batch_rows(rows, max_bytes)
    for start in range(0, len(rows), step):
        yield np.ascontiguousarray(rows[start : start + step])


def batch_rows(rows: np.ndarray, max_bytes: int | None = None) -> int:
    """How many rows of (n_rows, d) `rows` one request carries: as many as stay under `max_bytes` (MAX_BATCH_BYTES
    when None) encoded, measured on the first row (dense rows of one width encode to the same size)."""
    return max(1, (max_bytes or MAX_BATCH_BYTES) // len(encode_dense(np.ascontiguousarray(rows[:1]))))


def transform(
    rows: np.ndarray,
    invoke: Invoke,
    max_bytes: int = MAX_BATCH_BYTES,
    concurrency: int = 1,
    attempts: int = 6,
    base_delay: float = 0.5,
    max_delay: float = 20.0,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, np.ndarray]:
    """Every row of (n_rows, d) through an endpoint: label key -> (n_rows, width), in row order.

    At most `concurrency` (1..MAX_CONCURRENCY) requests are in flight; a block is encoded only when it is
    sent, so memory holds that many payloads besides the answers. A throttled request (THROTTLING_CODES
    or HTTP 429) is sent again up to `attempts` times in all, after `base_delay` · 2^i seconds (at most
    `max_delay`, with jitter). Any other error is raised once the requests in flight have ended; no block
    is sent after it.
    """
    answers = list(
        answer_batches(
            batches(rows, max_bytes), invoke, concurrency=concurrency, attempts=attempts, base_delay=base_delay,
            max_delay=max_delay, sleep=sleep,
        )
    )  # fmt: skip
    if not answers:
        raise ValueError("no rows to transform")
    return {key: np.concatenate([a[key] for a in answers]) for key in answers[0]}


def answer_batches(
    requests: Iterable[np.ndarray],
    invoke: Invoke,
    concurrency: int = 1,
    attempts: int = 6,
    base_delay: float = 0.5,
    max_delay: float = 20.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[dict[str, np.ndarray]]:
    """Each (m_i, d) block of `requests` through an endpoint as one request; the answers (label key ->
    (m_i, width)) yielded in the blocks' order, each as soon as it and those before it are in.

    `transform`'s concurrency, retries and failures. `requests` is drawn only as requests can be sent (at most
    `concurrency` in flight, at most AHEAD · `concurrency` past the oldest unanswered one), so memory holds that
    many blocks and answers whatever the rows: the caller can stream the rows in and the answers out.
    """
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise ValueError(f"concurrency must be 1 to {MAX_CONCURRENCY}, got {concurrency}")

    def send(block: np.ndarray) -> dict[str, np.ndarray]:
        return decode_labels(_invoke_with_backoff(invoke, encode_dense(block), attempts, base_delay, max_delay, sleep))

    answers: dict[int, dict[str, np.ndarray]] = {}
    in_flight: dict[Future, int] = {}
    next_out = 0

    def collect(block_until_one: bool) -> None:
        """Keep the answers that are in; the first failure raises, so the caller submits nothing more."""
        done, _ = wait(in_flight, timeout=None if block_until_one else 0, return_when=FIRST_COMPLETED)
        for future in done:
            answers[in_flight.pop(future)] = future.result()

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="invoke-endpoint") as pool:
        for index, block in enumerate(requests):
            collect(block_until_one=False)
            while True:
                while next_out in answers:
                    yield answers.pop(next_out)
                    next_out += 1
                if len(in_flight) < concurrency and index - next_out < AHEAD * concurrency:
                    break
                collect(block_until_one=True)
            in_flight[pool.submit(send, block)] = index
        while in_flight:
            collect(block_until_one=True)
            while next_out in answers:
                yield answers.pop(next_out)
                next_out += 1


def _invoke_with_backoff(
    invoke: Invoke, body: bytes, attempts: int, base_delay: float, max_delay: float, sleep: Callable[[float], None]
) -> bytes:
    for attempt in range(attempts):
        try:
            return invoke(body)
        except ClientError as error:
            if not _throttled(error) or attempt == attempts - 1:
                raise
            delay = min(max_delay, base_delay * 2**attempt) * random.uniform(0.5, 1.0)
            log.warning("InvokeEndpoint throttled (%s); retrying in %.1f s", printable(_describe_error(error)), delay)
            sleep(delay)
    raise AssertionError("unreachable")  # the last attempt returns or raises


def _throttled(error: ClientError) -> bool:
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return error.response.get("Error", {}).get("Code") in THROTTLING_CODES or status == 429


def delete_endpoint_stack(
    client,  # a boto3 SageMaker client
    endpoint: str,
    endpoint_config: str,
    model: str | None,
    poll_seconds: float = 30.0,
    timeout_seconds: float = 3600.0,
    sleep: Callable[[float], None] = time.sleep,
) -> list[str]:
    """Delete the endpoint, then its config and model, and verify each is gone; what is already gone is fine.

    Nothing talks it out of deleting: each delete is issued whatever Describe answers, and issued again
    (SageMaker refuses it while an endpoint is Creating or Updating; calls fail, are throttled or time out)
    with backoff until Delete or Describe answers "not found" or `timeout_seconds` have passed. Config and
    model are deleted even when the endpoint could not be. Raises TeardownIncomplete naming what is left, with the last
    error of each, for the sweeper to take over. Returns what it deleted, e.g. ["endpoint", "endpoint config"].
    """
    deadline = time.monotonic() + timeout_seconds
    resources = [
        ("endpoint", endpoint, lambda: client.delete_endpoint(EndpointName=endpoint),
         lambda: client.describe_endpoint(EndpointName=endpoint)),
        ("endpoint config", endpoint_config, lambda: client.delete_endpoint_config(EndpointConfigName=endpoint_config),
         lambda: client.describe_endpoint_config(EndpointConfigName=endpoint_config)),
    ]  # fmt: skip
    if model:
        resources.append(
            (
                "model",
                model,
                lambda: client.delete_model(ModelName=model),
                lambda: client.describe_model(ModelName=model),
            )
        )
    deleted, left = [], []
    for kind, name, delete, describe in resources:
        issued, gone, last_error = _delete_until_gone(kind, name, delete, describe, deadline, poll_seconds, sleep)
        if issued:
            deleted.append(kind)
        if not gone:
            left.append(f"{kind} {name} ({last_error or 'still there'})")
    log.info("deleted for %s: %s", printable(endpoint), ", ".join(deleted) or "nothing (already gone)")
    if left:
        raise TeardownIncomplete(f"after {timeout_seconds:.0f} s these are left: {'; '.join(left)}")
    return deleted


def start_endpoint_delete(
    client,  # a boto3 SageMaker client
    endpoint: str,
    deadline: float,
    poll_seconds: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Have SageMaker deleting `endpoint`, without waiting for it to be gone: True when it is Deleting (the
    delete was accepted, or an earlier one was), False when it is gone already or no delete was accepted by
    `deadline` (time.monotonic()); delete_endpoint_stack then says which. DeleteEndpoint is issued again, as
    delete_endpoint_stack issues it, while SageMaker refuses it (an endpoint Creating or Updating) or fails."""
    wait = min(FIRST_CHECK_SECONDS, poll_seconds)
    while True:
        try:
            client.delete_endpoint(EndpointName=endpoint)
            return True
        except Exception as error:  # any failure is retried until the deadline
            if is_not_found(error):
                return False
            log.warning("deleting endpoint %s failed (%s); trying again", printable(endpoint),
                        printable(_describe_error(error)))  # fmt: skip
        try:
            if client.describe_endpoint(EndpointName=endpoint).get("EndpointStatus") == "Deleting":
                return True
        except Exception as error:
            if is_not_found(error):
                return False
        if time.monotonic() + wait > deadline:
            return False
        sleep(wait)
        wait = min(wait * 2, poll_seconds)


def delete_model(
    client, model: str, poll_seconds: float = 30.0, timeout_seconds: float = 3600.0, sleep=time.sleep
) -> bool:
    """Delete a model (a batch transform's) and verify it is gone, retrying as delete_endpoint_stack does; True
    when a delete was accepted, False when it was gone already. TeardownIncomplete when it is still there."""
    issued, gone, last_error = _delete_until_gone(
        "model", model, lambda: client.delete_model(ModelName=model), lambda: client.describe_model(ModelName=model),
        time.monotonic() + timeout_seconds, poll_seconds, sleep,
    )  # fmt: skip
    if not gone:
        raise TeardownIncomplete(f"after {timeout_seconds:.0f} s model {model} is left ({last_error or 'still there'})")
    return issued


class TeardownIncomplete(RuntimeError):
    """An endpoint, endpoint config or model could not be deleted in time: it is still billed."""


def _delete_until_gone(
    kind: str,
    name: str,
    delete: Callable[[], object],
    describe: Callable[[], object],
    deadline: float,
    poll_seconds: float,
    sleep: Callable[[float], None],
) -> tuple[bool, bool, str | None]:
    """(a delete was accepted, Describe says it is gone, the last error seen) for one resource."""
    issued, last_error, wait = False, None, min(FIRST_CHECK_SECONDS, poll_seconds)
    while True:
        try:
            delete()
            issued = True
        except Exception as error:  # any failure is retried until the deadline
            if is_not_found(error):
                # SageMaker's own "not found" for the name: gone, whatever Describe may be answering.
                return issued, True, None
            last_error = _describe_error(error)
            log.warning("deleting %s %s failed (%s); trying again", kind, printable(name), printable(last_error))
        try:
            describe()
        except Exception as error:
            if is_not_found(error):
                return issued, True, None
            last_error = _describe_error(error)
        if time.monotonic() + wait > deadline:
            return issued, False, last_error
        sleep(wait)
        wait = min(wait * 2, poll_seconds)


def _describe_error(error: Exception) -> str:
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        return f"{details.get('Code')}: {details.get('Message')}"
    return f"{type(error).__name__}: {error}"


def ignore_missing(call: Callable[[], object]) -> bool:
    """Run a delete; True when it deleted something, False when there was nothing to delete."""
    try:
        call()
    except ClientError as error:
        if is_not_found(error):
            return False
        raise
    return True
