"""Objects above boto3's 8 MiB multipart threshold round-trip through the emulator with checksum validation
on (boto3's default `response_checksum_validation=when_supported`): multipart objects carry S3's composite
checksum, single-part objects and copies a full-object one, as issue 12's `make run` needs."""

from __future__ import annotations

import base64
import io
import json
import signal
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import boto3
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError, FlexibleChecksumError

from aws_emulator.connection import airflow_env
from include.segmentation_aws.store import RunStore
from scripts import run_local
from tests.support.emulator_process import emulator_process
from tests.support.paths import PROJECT_ROOT

MiB = 1024 * 1024
PART = 8 * MiB  # boto3's default multipart_chunksize (and threshold)
BUCKET = "popseg-large-objects"


def random_bytes(size: int, seed: int) -> bytes:
    """`size` incompressible bytes, the same for the same seed."""
    import numpy as np

    return np.random.default_rng(seed).bytes(size)


def crc32(data: bytes) -> str:
    """S3's CRC32 checksum of `data`: base64 of the big-endian 4-byte CRC."""
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def composite_crc32(data: bytes, part_size: int) -> str:
    """S3's composite CRC32 of `data` uploaded in `part_size` parts: the CRC32 of the concatenated
    big-endian part CRCs, then `-<number of parts>` (S3 User Guide, "Checking object integrity")."""
    parts = [data[start : start + part_size] for start in range(0, len(data), part_size)]
    joined = b"".join(zlib.crc32(part).to_bytes(4, "big") for part in parts)
    return f"{crc32(joined)}-{len(parts)}"


@pytest.fixture(scope="module")
def large(s3):
    """The test bucket, emptied afterwards (the session's emulator keeps objects in memory)."""
    s3.create_bucket(Bucket=BUCKET)
    yield s3
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for item in page.get("Contents", []):
            s3.delete_object(Bucket=BUCKET, Key=item["Key"])


@pytest.fixture(scope="module")
def mb20() -> bytes:
    return random_bytes(20 * MiB, seed=20)


@pytest.mark.parametrize("size_mib", [20, 70])
def test_a_multipart_upload_reads_back_whole_with_its_composite_checksum(large, size_mib) -> None:
    data = random_bytes(size_mib * MiB, seed=size_mib)
    key = f"multipart-{size_mib}"
    large.upload_fileobj(io.BytesIO(data), BUCKET, key)  # 70 MiB is above the emulator's per-request cap
    answer = large.get_object(Bucket=BUCKET, Key=key)
    assert answer["Body"].read() == data
    assert answer["ETag"].endswith(f'-{-(-len(data) // PART)}"')
    assert answer["ChecksumType"] == "COMPOSITE"
    assert answer["ChecksumCRC32"] == composite_crc32(data, PART)


def test_download_file_of_a_multipart_object_writes_every_byte(large, mb20, tmp_path) -> None:
    large.upload_fileobj(io.BytesIO(mb20), BUCKET, "download-file")
    large.download_file(BUCKET, "download-file", str(tmp_path / "copy"))
    assert (tmp_path / "copy").read_bytes() == mb20


def test_explicit_small_parts_give_a_composite_checksum_over_those_parts(large, mb20) -> None:
    five = 5 * MiB  # S3's smallest part but the last
    config = TransferConfig(multipart_threshold=five, multipart_chunksize=five)
    large.upload_fileobj(io.BytesIO(mb20), BUCKET, "small-parts", Config=config)
    head = large.head_object(Bucket=BUCKET, Key="small-parts", ChecksumMode="ENABLED")
    assert (head["ChecksumType"], head["ChecksumCRC32"]) == ("COMPOSITE", composite_crc32(mb20, five))
    assert head["ChecksumCRC32"].endswith("-4")
    assert large.get_object(Bucket=BUCKET, Key="small-parts")["Body"].read() == mb20


def test_head_object_reports_the_checksum_get_object_does(large, mb20) -> None:
    large.upload_fileobj(io.BytesIO(mb20), BUCKET, "head")
    head = large.head_object(Bucket=BUCKET, Key="head", ChecksumMode="ENABLED")
    got = large.get_object(Bucket=BUCKET, Key="head", ChecksumMode="ENABLED")
    got["Body"].close()
    assert (head["ChecksumType"], head["ChecksumCRC32"]) == (got["ChecksumType"], got["ChecksumCRC32"])


def test_a_ranged_get_across_a_part_boundary_returns_that_range_and_no_whole_object_checksum(large, mb20) -> None:
    large.upload_fileobj(io.BytesIO(mb20), BUCKET, "ranged")
    first, last = PART - 100, PART + 100
    answer = large.get_object(Bucket=BUCKET, Key="ranged", Range=f"bytes={first}-{last}", ChecksumMode="ENABLED")
    assert answer["Body"].read() == mb20[first : last + 1]
    assert "ChecksumCRC32" not in answer and "ChecksumType" not in answer


def test_a_single_part_object_has_the_full_object_checksum_of_its_bytes(large) -> None:
    data = random_bytes(3 * MiB, seed=3)
    large.put_object(Bucket=BUCKET, Key="single", Body=data)
    head = large.head_object(Bucket=BUCKET, Key="single", ChecksumMode="ENABLED")
    answer = large.get_object(Bucket=BUCKET, Key="single")
    assert answer["Body"].read() == data
    assert (head["ChecksumType"], head["ChecksumCRC32"]) == ("FULL_OBJECT", crc32(data))
    assert (answer["ChecksumType"], answer["ChecksumCRC32"]) == ("FULL_OBJECT", crc32(data))


def test_a_copy_of_a_single_part_object_has_its_bytes_checksum_and_md5_etag(large) -> None:
    import hashlib

    data = random_bytes(3 * MiB, seed=4)
    large.put_object(Bucket=BUCKET, Key="single-source", Body=data)
    copied = large.copy_object(Bucket=BUCKET, Key="single-copy", CopySource={"Bucket": BUCKET, "Key": "single-source"})
    assert copied["CopyObjectResult"]["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    answer = large.get_object(Bucket=BUCKET, Key="single-copy", ChecksumMode="ENABLED")
    assert answer["Body"].read() == data and answer["ETag"] == copied["CopyObjectResult"]["ETag"]
    assert (answer["ChecksumType"], answer["ChecksumCRC32"]) == ("FULL_OBJECT", crc32(data))


def test_a_copy_of_a_multipart_object_reads_back_with_a_full_object_checksum(large, mb20) -> None:
    """Issue 12: the DAG's publish step copies each result; a copied multipart object was refused."""
    large.upload_fileobj(io.BytesIO(mb20), BUCKET, "to-copy")
    copied = large.copy_object(Bucket=BUCKET, Key="copied", CopySource={"Bucket": BUCKET, "Key": "to-copy"})
    assert copied["CopyObjectResult"]["ChecksumCRC32"] == crc32(mb20)
    answer = large.get_object(Bucket=BUCKET, Key="copied")
    assert answer["Body"].read() == mb20
    assert (answer["ChecksumType"], answer["ChecksumCRC32"]) == ("FULL_OBJECT", crc32(mb20))


def test_a_stored_body_that_no_longer_matches_its_checksum_is_refused_on_download(large, emulator) -> None:
    """The checksum served is the one stored at upload, not one recomputed at read time, so validation
    catches damage; the damage is made inside moto, the emulator's storage, in this process."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    data = random_bytes(MiB, seed=1)
    large.put_object(Bucket=BUCKET, Key="rotted", Body=data)
    stored = s3_backends[DEFAULT_ACCOUNT_ID]["aws"].get_object(BUCKET, "rotted")
    stored.value = bytes([data[0] ^ 1]) + data[1:]
    with pytest.raises(FlexibleChecksumError):
        large.get_object(Bucket=BUCKET, Key="rotted")["Body"].read()


def test_an_upload_whose_checksum_does_not_match_its_body_is_refused_and_not_stored(emulator, large) -> None:
    once = boto3.client(
        "s3",
        endpoint_url=emulator.endpoint_url,
        region_name="us-east-1",
        config=Config(retries={"total_max_attempts": 1}),
    )
    with pytest.raises(ClientError) as refused:
        once.put_object(Bucket=BUCKET, Key="mismatched", Body=b"what was sent", ChecksumCRC32=crc32(b"something else"))
    assert refused.value.response["Error"]["Code"] == "BadDigest"
    with pytest.raises(ClientError, match="404"):
        large.head_object(Bucket=BUCKET, Key="mismatched")


@pytest.fixture(scope="module")
def s3_hook(emulator, large):
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("AIRFLOW_CONN_EMULATOR_S3", airflow_env(emulator.endpoint_url)["AIRFLOW_CONN_AWS_DEFAULT"])
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    yield S3Hook(aws_conn_id="emulator_s3")
    monkeypatch.undo()


def test_the_providers_s3_hook_loads_copies_and_downloads_a_large_file(s3_hook, mb20, tmp_path) -> None:
    source = tmp_path / "census.csv"
    source.write_bytes(mb20)
    s3_hook.load_file(source, "hook/census.csv", bucket_name=BUCKET)
    s3_hook.load_bytes(mb20, "hook/bytes.bin", bucket_name=BUCKET)
    s3_hook.copy_object("hook/census.csv", "hook/copy.csv", source_bucket_name=BUCKET, dest_bucket_name=BUCKET)
    for key in ("hook/census.csv", "hook/bytes.bin", "hook/copy.csv"):
        downloaded = s3_hook.download_file(key, bucket_name=BUCKET, local_path=str(tmp_path))
        assert Path(downloaded).read_bytes() == mb20, key
    assert s3_hook.get_key("hook/copy.csv", BUCKET).get()["Body"].read() == mb20


@pytest.fixture
def published(large):
    """A run published as the DAG publishes one (RunStore.write, then RunStore.copy under runs/<run_id>/),
    with a 24 MiB segments.csv; returns {file name: bytes}."""
    store = RunStore(large, run_local.BUCKET)
    large.create_bucket(Bucket=run_local.BUCKET)
    files = {"segments.csv": random_bytes(24 * MiB, seed=24), "run.json": b"{}"}
    for name, data in files.items():
        store.copy(store.write(f"segmentation/work/manual__big/{name}", data), f"segmentation/runs/manual__big/{name}")
    store.write("segmentation/latest.json", json.dumps({"run_id": "manual__big"}).encode())
    yield files
    for item in large.list_objects_v2(Bucket=run_local.BUCKET).get("Contents", []):
        large.delete_object(Bucket=run_local.BUCKET, Key=item["Key"])


def test_download_results_fetches_a_published_run_with_a_large_file(emulator, published, tmp_path) -> None:
    run_dir = run_local.download_results(emulator.endpoint_url, tmp_path / "output")
    for name, data in published.items():
        assert (run_dir / name).read_bytes() == data
        assert (tmp_path / "output" / "latest" / name).read_bytes() == data


_GROWTH = textwrap.dedent(
    """
    import pathlib, re, sys
    from scripts import run_local
    status = lambda field: int(re.search(field + r":\\s+(\\d+) kB", pathlib.Path("/proc/self/status").read_text())[1])
    run_local.client("s3", sys.argv[1]).list_buckets()  # botocore's models, loaded once per process
    before = status("VmRSS")
    pathlib.Path("/proc/self/clear_refs").write_text("5")  # peak RSS (VmHWM) := current RSS
    run_local.download_results(sys.argv[1], pathlib.Path(sys.argv[2]))
    print(status("VmHWM") - before)
    """
)


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="peak RSS is read from Linux's /proc")
def test_download_results_streams_to_disk_rather_than_holding_a_file_in_memory(emulator, published, tmp_path) -> None:
    """Peak RSS growth of a child process while it downloads the run (getrusage's peak would include the
    pytest process it was forked from)."""
    done = subprocess.run(
        [sys.executable, "-c", _GROWTH, emulator.endpoint_url, str(tmp_path / "output")],
        capture_output=True,
        text=True,
        check=True,
        cwd=PROJECT_ROOT,
    )
    growth_kib = int(done.stdout.split()[-1])
    assert growth_kib < 12 * 1024  # reading the 24 MiB segments.csv whole would add at least 24 MiB


def test_a_multipart_object_keeps_its_parts_and_checksum_across_a_restart(tmp_path, mb20) -> None:
    five = 5 * MiB
    config = TransferConfig(multipart_threshold=five, multipart_chunksize=five)
    single = random_bytes(12 * MiB, seed=12)  # above boto3's threshold, but uploaded in one piece
    with emulator_process("--data-dir", str(tmp_path)) as (process, url):
        s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1")
        s3.create_bucket(Bucket="kept-large")
        s3.upload_fileobj(
            io.BytesIO(mb20), "kept-large", "parts", Config=config, ExtraArgs={"ChecksumAlgorithm": "SHA256"}
        )
        s3.put_object(Bucket="kept-large", Key="single", Body=single)
        before = {
            key: s3.head_object(Bucket="kept-large", Key=key, ChecksumMode="ENABLED") for key in ("parts", "single")
        }
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=120) == 0
    with emulator_process("--data-dir", str(tmp_path)) as (process, url):
        s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1")
        for key, data in (("parts", mb20), ("single", single)):
            after = s3.head_object(Bucket="kept-large", Key=key, ChecksumMode="ENABLED")
            fields = ("ETag", "ChecksumType", "ChecksumSHA256", "ChecksumCRC32")
            assert {f: after.get(f) for f in fields} == {f: before[key].get(f) for f in fields}, key
            assert s3.get_object(Bucket="kept-large", Key=key)["Body"].read() == data
        assert before["parts"]["ChecksumSHA256"].endswith("-4") and before["single"]["ChecksumType"] == "FULL_OBJECT"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=120) == 0


def test_a_single_part_copy_larger_than_one_request_comes_back_in_parts_after_a_restart(tmp_path) -> None:
    """CopyObject makes one-piece objects of any size; the emulator takes at most 64 MiB per request, so
    such an object is restored by multipart upload, and reads back whole with the composite checksum."""
    data = random_bytes(65 * MiB, seed=65)
    with emulator_process("--data-dir", str(tmp_path)) as (process, url):
        s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1")
        s3.create_bucket(Bucket="kept-copy")
        s3.upload_fileobj(io.BytesIO(data), "kept-copy", "source")
        s3.copy_object(Bucket="kept-copy", Key="copy", CopySource={"Bucket": "kept-copy", "Key": "source"})
        s3.delete_object(Bucket="kept-copy", Key="source")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=120) == 0
    with emulator_process("--data-dir", str(tmp_path)) as (process, url):
        s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1")
        answer = s3.get_object(Bucket="kept-copy", Key="copy")
        assert answer["Body"].read() == data
        assert (answer["ChecksumType"], answer["ChecksumCRC32"]) == ("COMPOSITE", composite_crc32(data, PART))
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=120) == 0


def test_the_run_store_writes_a_training_shard_in_one_request_and_a_larger_file_in_32_mib_parts(large) -> None:
    """store.UPLOADS: a shard (recordio.SHARD_BYTES) is one PutObject (its ETag is its MD5); above 48 MiB the
    parts are 32 MiB (ETag `…-2` for 60 MiB), each under the emulator's per-request limit."""
    import hashlib

    from include.sagemaker_formats.recordio import SHARD_BYTES

    store = RunStore(large, BUCKET)
    shard, big = random_bytes(SHARD_BYTES + 4096, seed=32), random_bytes(60 * MiB, seed=60)
    store.write("store/part-00000.rec", shard)
    store.write("store/segments.csv", big)
    assert large.head_object(Bucket=BUCKET, Key="store/part-00000.rec")["ETag"] == f'"{hashlib.md5(shard).hexdigest()}"'
    assert large.head_object(Bucket=BUCKET, Key="store/segments.csv")["ETag"].endswith('-2"')
    assert store.read("store/part-00000.rec") == shard and store.read("store/segments.csv") == big
