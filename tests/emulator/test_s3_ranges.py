"""A ranged GetObject reads just its range (aws_emulator/s3_ranges.py): the bytes S3 would serve, with S3's
status and Content-Range, without reading the whole object (moto read all of it for every range)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from moto.s3.models import s3_backends

from aws_emulator.s3_ranges import plain_range

BUCKET = "popseg-ranges"
SIZE = 3 * 1024 * 1024 + 17  # past moto's spool size: the object is a file on disk, as a work file is
DATA = bytes(range(256)) * (SIZE // 256) + bytes(SIZE % 256)


class ReadRecorder:
    """Stands in for a key's spooled buffer and records the size of every read (None: the rest of it)."""

    def __init__(self, buffer) -> None:
        self.buffer, self.reads = buffer, []

    def seek(self, *args):
        return self.buffer.seek(*args)

    def read(self, size=None):
        self.reads.append(size)
        return self.buffer.read() if size is None else self.buffer.read(size)

    def __getattr__(self, name):
        return getattr(self.buffer, name)


@pytest.fixture(scope="module")
def stored(s3):
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="object", Body=DATA)
    yield s3
    s3.delete_object(Bucket=BUCKET, Key="object")
    s3.delete_bucket(Bucket=BUCKET)


@pytest.fixture
def reads(stored, emulator):
    """The reads of the object's buffer while the test runs (the session's emulator runs in this process)."""
    key = next(
        backend.buckets[BUCKET].keys["object"]
        for account in s3_backends.values()
        for backend in account.values()
        if BUCKET in backend.buckets
    )
    recorder = ReadRecorder(key._value_buffer)
    key._value_buffer = recorder
    yield recorder.reads
    key._value_buffer = recorder.buffer


@pytest.mark.parametrize(
    ("header", "start", "stop"),
    [
        ("bytes=0-99", 0, 100),
        (f"bytes={SIZE // 2}-{SIZE // 2 + 8 * 1024}", SIZE // 2, SIZE // 2 + 8 * 1024 + 1),
        (f"bytes={SIZE - 10}-", SIZE - 10, SIZE),
        (f"bytes={SIZE - 10}-{SIZE + 1000}", SIZE - 10, SIZE),  # past the end: up to the end, as S3
        ("bytes=-25", SIZE - 25, SIZE),
    ],
)
def test_a_ranged_get_serves_the_range_and_reads_only_it(stored, reads, header, start, stop):
    answer = stored.get_object(Bucket=BUCKET, Key="object", Range=header)

    assert answer["Body"].read() == DATA[start:stop]
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert answer["ContentRange"] == f"bytes {start}-{stop - 1}/{SIZE}"
    assert reads == [stop - start]  # one read of the range; moto read the whole object (None)


def test_a_get_without_range_still_reads_the_whole_object(stored, reads):
    assert stored.get_object(Bucket=BUCKET, Key="object")["Body"].read() == DATA
    assert None in reads


def test_a_range_past_the_end_is_refused_as_s3_refuses_it(stored):
    with pytest.raises(ClientError) as refused:
        stored.get_object(Bucket=BUCKET, Key="object", Range=f"bytes={SIZE}-{SIZE + 10}")
    assert refused.value.response["Error"]["Code"] == "InvalidRange"


def test_several_ranges_are_answered_whole_as_s3_answers_them(stored):
    answer = stored.get_object(Bucket=BUCKET, Key="object", Range="bytes=0-9,20-29")
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert answer["Body"].read() == DATA


@pytest.mark.parametrize(
    ("header", "plain"),
    [
        ("bytes=0-0", True),
        ("bytes=5-", True),
        ("bytes=-5", True),
        ("bytes=99-", False),  # starts past a 99-byte object's end: moto's 416
        ("bytes=-0", False),
        ("bytes=9-3", False),  # ends before it starts: S3 ignores it
        ("bytes=0-1,4-5", False),
        ("items=0-5", False),
        ("", False),
        (None, False),
    ],
)
def test_plain_range_tells_one_satisfiable_range_from_the_rest(header, plain):
    assert plain_range(header, 99) is plain
