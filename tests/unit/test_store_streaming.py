"""RunStore.open_write streams an object to S3 holding at most a part of it: one PutObject for a small one, a
multipart upload for a large one, nothing left behind when the writer fails."""

from __future__ import annotations

import os

import pytest

from include.segmentation_aws.store import STREAM_PART_BYTES, RunStore
from tests.support.preprocess_runs import BUCKET, s3_bucket


def test_a_small_streamed_object_is_written_whole() -> None:
    with s3_bucket() as client:
        store = RunStore(client, BUCKET)
        with store.open_write("out/small.bin") as stream:
            stream.write(b"abc")
            stream.write(bytearray(b"def"))
        assert stream.uri == f"s3://{BUCKET}/out/small.bin"
        assert store.read("out/small.bin") == b"abcdef"


def test_a_large_streamed_object_goes_in_parts_of_the_bound() -> None:
    data = os.urandom(2 * STREAM_PART_BYTES + 12345)
    with s3_bucket() as client:
        store = RunStore(client, BUCKET)
        with store.open_write("out/large.bin") as stream:
            for start in range(0, len(data), 3 << 20):
                stream.write(data[start : start + (3 << 20)])
                assert len(stream._held) < STREAM_PART_BYTES  # never more than a part held
        assert store.read("out/large.bin") == data
        assert client.head_object(Bucket=BUCKET, Key="out/large.bin")["ETag"].endswith('-3"')  # three parts


def test_a_failed_streamed_write_leaves_no_object_and_no_upload() -> None:
    with s3_bucket() as client:
        store = RunStore(client, BUCKET)
        with pytest.raises(RuntimeError, match="encoder failed"), store.open_write("out/failed.bin") as stream:
            stream.write(os.urandom(STREAM_PART_BYTES + 1))
            raise RuntimeError("encoder failed")
        assert store.read_if_exists("out/failed.bin") is None
        assert client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


def test_an_object_opened_for_reading_reads_back_whole_by_ranged_parts(monkeypatch) -> None:
    from include.segmentation_aws import store as store_module

    monkeypatch.setattr(store_module, "READ_PART_BYTES", 1 << 16)
    data = os.urandom(5 * (1 << 16) + 999)
    with s3_bucket() as client:
        store = RunStore(client, BUCKET)
        store.write("in/object.bin", data)
        with store.open_read("in/object.bin") as file:
            file.seek(len(data) - 10)
            tail = file.read()
            file.seek(0)
            assert file.read() == data and tail == data[-10:]


def test_an_object_replaced_while_it_is_read_is_refused() -> None:
    from botocore.exceptions import ClientError

    with s3_bucket() as client:
        store = RunStore(client, BUCKET)
        store.write("in/object.bin", b"first version")
        with store.open_read("in/object.bin") as file:
            store.write("in/object.bin", b"second version")
            with pytest.raises(ClientError, match="PreconditionFailed"):
                file.read()
