"""latest.json's write tells a lost answer from a lost write: through the fault proxy, a PUT that S3 did but
whose answer was lost every time is confirmed by reading it back; one S3 never did is refused, naming why."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import boto3
import pytest
from botocore.config import Config

from include.segmentation_aws.store import RunStore, WriteNotConfirmed
from tests.support.faults import S3_PUT, Fault, FaultProxy, running_proxy

KEY = "segmentation/latest.json"
EARLIER = {"run_id": "an earlier run"}
OURS = {"run_id": "manual__2026-12-06T02:00:00+00:00", "results": "s3://b/segmentation/runs/x/"}


@pytest.fixture
def through_proxy(emulator) -> Iterator[tuple[FaultProxy, RunStore]]:
    """A store whose client goes through a fault proxy (2 calls a request, not botocore's 6), on a bucket
    that holds an earlier run's latest.json."""
    with running_proxy(emulator.endpoint_url) as (proxy, url):
        client = boto3.client(
            "s3",
            endpoint_url=url,
            region_name="us-east-1",
            config=Config(retries={"mode": "standard", "max_attempts": 1}),
        )
        bucket = f"popseg-{uuid.uuid4().hex[:10]}"
        client.create_bucket(Bucket=bucket)
        store = RunStore(client, bucket)
        store.write_json(KEY, EARLIER)
        yield proxy, store


def test_a_write_whose_answer_is_lost_every_time_is_confirmed_by_reading_it_back(through_proxy, caplog) -> None:
    proxy, store = through_proxy
    proxy.faults.append(fault := Fault(S3_PUT, "lost", KEY))
    assert store.write_json_confirmed(KEY, OURS) == f"s3://{store.bucket}/{KEY}"
    assert fault.hits == 2 and store.read_json(KEY) == OURS
    assert "its answer was lost" in caplog.text


def test_a_write_that_never_happened_is_refused_naming_what_the_object_holds(through_proxy) -> None:
    proxy, store = through_proxy
    proxy.faults.append(Fault(S3_PUT, "transient", KEY))  # answered 500 without reaching S3 ...
    proxy.faults.append(Fault(S3_PUT, "transient", KEY))  # ... and again on botocore's retry
    with pytest.raises(WriteNotConfirmed, match=r"reading it back shows another document: it was not written"):
        store.write_json_confirmed(KEY, OURS)
    assert store.read_json(KEY) == EARLIER


def test_a_write_that_succeeds_needs_no_read_back(through_proxy) -> None:
    _, store = through_proxy
    assert store.write_json_confirmed(KEY, OURS) == f"s3://{store.bucket}/{KEY}"
    assert store.read_json(KEY) == OURS
