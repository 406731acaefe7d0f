"""Endpoint I/O without AWS: payloads under the size cap, every row once, answers joined in order, a bounded
number of requests in flight, throttling retried."""

from __future__ import annotations

import random
import threading
import time

import numpy as np
import pytest
from botocore.exceptions import ClientError

from include.sagemaker_formats.recordio import decode_features, encode_dense, encode_labels
from include.segmentation_aws import endpoints


def test_batches_stay_under_the_payload_limit_and_cover_every_row() -> None:
    rows = np.random.default_rng(0).random((1000, 34), dtype=np.float32)
    blocks = list(endpoints.batches(rows, max_bytes=20_000))
    assert sum(len(b) for b in blocks) == 1000 and len(blocks) > 1
    assert all(len(encode_dense(b)) <= 20_000 for b in blocks)


def test_transform_sends_recordio_and_joins_the_answers_in_order() -> None:
    rows = np.arange(60, dtype=np.float32).reshape(20, 3)
    calls = []

    def endpoint(body: bytes) -> bytes:
        x = decode_features(body)
        calls.append(len(x))
        return encode_labels({"projection": x * 2})

    answer = endpoints.transform(rows, endpoint, max_bytes=200)
    assert len(calls) > 1 and np.array_equal(answer["projection"], rows * 2)


def _echo(body: bytes) -> bytes:
    return encode_labels({"projection": decode_features(body)})


def _throttled(code: str = "ModelNotReadyException", status: int = 429) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "busy"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "InvokeEndpoint"
    )


def test_concurrent_answers_come_back_in_row_order_whatever_order_they_finish_in() -> None:
    rows = np.arange(3000, dtype=np.float32).reshape(1000, 3)
    delays = random.Random(1)

    def slow_endpoint(body: bytes) -> bytes:
        time.sleep(delays.uniform(0, 0.01))
        return _echo(body)

    answer = endpoints.transform(rows, slow_endpoint, max_bytes=400, concurrency=8)
    assert np.array_equal(answer["projection"], rows)


def test_no_more_than_concurrency_requests_are_in_flight() -> None:
    rows = np.zeros((600, 3), dtype=np.float32)
    lock, now, most = threading.Lock(), [0], [0]

    def endpoint(body: bytes) -> bytes:
        with lock:
            now[0] += 1
            most[0] = max(most[0], now[0])
        time.sleep(0.002)
        with lock:
            now[0] -= 1
        return _echo(body)

    endpoints.transform(rows, endpoint, max_bytes=400, concurrency=3)
    assert 1 <= most[0] <= 3


def test_a_throttled_request_is_sent_again_until_it_is_answered() -> None:
    rows = np.arange(30, dtype=np.float32).reshape(10, 3)
    failures = [_throttled(), _throttled("ThrottlingException", 400), _throttled("Unknown", 429)]
    pauses: list[float] = []

    def busy_endpoint(body: bytes) -> bytes:
        if failures:
            raise failures.pop(0)
        return _echo(body)

    answer = endpoints.transform(rows, busy_endpoint, concurrency=2, sleep=pauses.append)
    assert np.array_equal(answer["projection"], rows) and len(pauses) == 3


def test_throttling_that_never_ends_fails_after_the_last_attempt() -> None:
    calls = []

    def always_busy(body: bytes) -> bytes:
        calls.append(body)
        raise _throttled()

    with pytest.raises(ClientError, match="ModelNotReadyException"):
        endpoints.transform(np.ones((4, 3), np.float32), always_busy, attempts=4, sleep=lambda _: None)
    assert len(calls) == 4


def test_a_model_error_is_raised_at_once_and_no_further_block_is_sent() -> None:
    rows = np.zeros((2000, 3), dtype=np.float32)  # 182 blocks of 11 rows
    calls = []

    def failing_endpoint(body: bytes) -> bytes:
        calls.append(len(body))
        if len(calls) == 5:
            raise ClientError({"Error": {"Code": "ModelError", "Message": "bad input"}}, "InvokeEndpoint")
        return _echo(body)

    with pytest.raises(ClientError, match="ModelError"):
        endpoints.transform(rows, failing_endpoint, max_bytes=400, concurrency=4, sleep=lambda _: None)
    assert len(calls) <= 5 + 4  # the failing call, and at most the requests already in flight


def test_concurrency_outside_its_bounds_is_refused() -> None:
    with pytest.raises(ValueError, match="concurrency must be 1 to 64"):
        endpoints.transform(np.ones((2, 3), np.float32), _echo, concurrency=0)


def test_answer_batches_draws_requests_only_a_bounded_way_past_the_oldest_unanswered() -> None:
    """The first request is slow: the others are answered, but no more than AHEAD · concurrency are sent past it,
    so the answers held for it stay bounded however many rows follow."""
    first_sent, release = threading.Event(), threading.Event()
    drawn = []

    def requests():
        for index in range(50):
            drawn.append(index)
            yield np.full((1, 3), index, dtype=np.float32)

    def endpoint(body: bytes) -> bytes:
        if decode_features(body)[0, 0] == 0:
            first_sent.set()
            release.wait(timeout=10)
        return _echo(body)

    answers = endpoints.answer_batches(requests(), endpoint, concurrency=2)
    threading.Timer(0.5, release.set).start()
    first = next(answers)
    drawn_before_the_first_answer = len(drawn)
    rest = list(answers)
    assert first_sent.is_set() and first["projection"][0, 0] == 0
    assert drawn_before_the_first_answer <= endpoints.AHEAD * 2 + 1
    assert [int(a["projection"][0, 0]) for a in rest] == list(range(1, 50))
