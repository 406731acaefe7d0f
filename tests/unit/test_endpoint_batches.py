"""Endpoint I/O without AWS: payloads under the size cap, every row once, answers joined in order."""

from __future__ import annotations

import numpy as np

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
