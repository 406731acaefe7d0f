"""Reading and writing one bucket's objects as bytes, JSON documents and frames."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import BotoCoreError, ClientError

from include.segmentation.printable import printable

log = logging.getLogger(__name__)

_S3_URI = re.compile(r"s3://([^/]+)/(.+)")

UPLOADS = TransferConfig(multipart_threshold=48 << 20, multipart_chunksize=32 << 20)
"""How `RunStore.write` uploads: one PutObject below 48 MiB, else multipart in 32 MiB parts.

boto3's default (8 MiB, in 8 MiB parts) would send a 30 MiB training shard as four parts and a
CompleteMultipartUpload; AWS suggests multipart from about 100 MB. Every request stays under the
emulator's 64 MiB request limit (server.MAX_REQUEST_BYTES), its aws-chunked framing included.
"""


STREAM_PART_BYTES = 8 << 20
"""Bytes `RunStore.open_write` holds of an object it streams before it sends them as one part (UploadPart).

This bounds a streamed write's memory, whatever the object's size: 8 MiB, above S3's 5 MiB least part, so an
object of at most 10,000 parts (S3's limit) may reach 78 GiB, past the 5.1 GiB of features MAX_CENSUS_ROWS
rows make. An object that never fills a part goes as one PutObject.
"""


READ_PART_BYTES = 8 << 20
"""Bytes `RunStore.open_read` fetches at a time (one ranged GetObject), and so holds of the object it reads:
a few row groups' column chunks of a work file, whatever the file's size."""


class Lineage(Protocol):
    """Told of each object a store reads or writes (`include.airflow_popseg.lineage.TaskLineage`: OpenLineage)."""

    def read(self, uri: str) -> None: ...

    def wrote(self, uri: str) -> None: ...


class _Unreported:
    def read(self, uri: str) -> None:
        pass

    def wrote(self, uri: str) -> None:
        pass


class WriteNotConfirmed(RuntimeError):
    """A write failed, and reading the object back shows it did not happen."""


class RunStore:
    """One bucket through one boto3 S3 client. Keys or `s3://` URIs of that bucket are accepted alike.

    Each object read or written is reported to `lineage`; `dataset` (a prefix URI) reports an object as part
    of the multi-object dataset it belongs to (a training channel's shards, a transform job's outputs)."""

    def __init__(self, client, bucket: str, lineage: Lineage | None = None) -> None:
        self.client = client
        self.bucket = bucket
        self.lineage = lineage or _Unreported()

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def key(self, key_or_uri: str) -> str:
        match = _S3_URI.fullmatch(key_or_uri)
        if match is None:
            return key_or_uri
        if match.group(1) != self.bucket:
            raise ValueError(f"{key_or_uri} is not in bucket {self.bucket}")
        return match.group(2)

    # --- bytes ----------------------------------------------------------------------------------------------
    def read(self, key_or_uri: str, dataset: str | None = None) -> bytes:
        data = self.client.get_object(Bucket=self.bucket, Key=self.key(key_or_uri))["Body"].read()
        self.lineage.read(dataset or self.uri(self.key(key_or_uri)))
        return data

    def write(self, key: str, data: bytes, dataset: str | None = None) -> str:
        """Write `data` (in parts above 48 MiB, see UPLOADS); returns the object's URI."""
        self.client.upload_fileobj(io.BytesIO(data), self.bucket, self.key(key), Config=UPLOADS)
        self.lineage.wrote(dataset or self.uri(self.key(key)))
        return self.uri(self.key(key))

    @contextmanager
    def open_write(self, key: str, dataset: str | None = None) -> Iterator[StreamedObject]:
        """A writable binary file that streams to `key` (one PutObject if it stays under STREAM_PART_BYTES, else
        a multipart upload in parts of that size), completed when the block ends; when the block raises, the
        upload is aborted and nothing is written. Use `.uri` for the object's URI."""
        stream = StreamedObject(self.client, self.bucket, self.key(key))
        try:
            yield stream
        except BaseException:
            stream.abort()
            raise
        stream.close()
        self.lineage.wrote(dataset or self.uri(self.key(key)))

    def open_read(self, key_or_uri: str, dataset: str | None = None) -> io.BufferedReader:
        """A seekable binary file over the object, read READ_PART_BYTES at a time by ranged GetObject (all of
        one version: its ETag, from a HeadObject, must still match, else the read fails), so that a reader
        such as pyarrow.parquet.ParquetFile holds the parts it reads, not the object."""
        key = self.key(key_or_uri)
        ranged = RangedObject(self.client, self.bucket, key)
        self.lineage.read(dataset or self.uri(key))
        return io.BufferedReader(ranged, buffer_size=READ_PART_BYTES)

    def list_keys(self, prefix: str) -> list[str]:
        """Every key under the key or URI prefix `prefix`, in S3's (lexicographic) order."""
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.key(prefix))
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    def copy(self, source: str, key: str) -> str:
        self.client.copy_object(
            Bucket=self.bucket, Key=self.key(key), CopySource={"Bucket": self.bucket, "Key": self.key(source)}
        )
        self.lineage.read(self.uri(self.key(source)))
        self.lineage.wrote(self.uri(self.key(key)))
        return self.uri(self.key(key))

    # --- documents ------------------------------------------------------------------------------------------
    def read_json(self, key_or_uri: str) -> object:
        return json.loads(self.read(key_or_uri))

    def read_if_exists(self, key_or_uri: str, dataset: str | None = None) -> bytes | None:
        try:
            return self.read(key_or_uri, dataset)
        except self.client.exceptions.NoSuchKey:
            return None

    def read_json_if_exists(self, key_or_uri: str) -> object | None:
        try:
            return self.read_json(key_or_uri)
        except self.client.exceptions.NoSuchKey:
            return None

    def write_json(self, key: str, document: object) -> str:
        return self.write(key, json.dumps(document, indent=2, default=str).encode())

    def write_json_confirmed(self, key: str, document: object) -> str:
        """`write_json` that tells a lost answer from a lost write: when the PUT fails (after botocore's own
        retries), the object is read back, and if it holds `document` the write happened and this returns.
        Otherwise the PUT's error is raised, with what the object holds instead said in the message."""
        try:
            return self.write_json(key, document)
        except (ClientError, BotoCoreError, S3UploadFailedError) as error:
            written = json.loads(json.dumps(document, default=str))
            try:
                found = self.read_json_if_exists(key)
            except (ClientError, BotoCoreError, ValueError) as unreadable:
                raise WriteNotConfirmed(
                    f"writing {self.uri(self.key(key))} failed ({error}); reading it back failed too ({unreadable})"
                ) from error
            if found != written:
                raise WriteNotConfirmed(
                    f"writing {self.uri(self.key(key))} failed ({error}), and reading it back shows "
                    f"{'no object' if found is None else 'another document'}: it was not written"
                ) from error
            log.warning(
                "The PUT of %s answered %s, but reading it back shows it was written: its answer was lost.",
                printable(self.uri(self.key(key))),
                printable(str(error)),
            )
            return self.uri(self.key(key))

    # --- frames: parquet keeps dtypes and the index; CSV is what users open ---------------------------------
    def read_frame(self, key_or_uri: str):
        import pandas as pd

        data = io.BytesIO(self.read(key_or_uri))
        return pd.read_parquet(data) if self.key(key_or_uri).endswith(".parquet") else pd.read_csv(data)

    def write_frame(self, key: str, frame) -> str:
        """`.parquet` with its index, or `.csv` without it and with formula-leading text neutralised."""
        from include.segmentation.results import csv_bytes

        if key.endswith(".parquet"):
            buffer = io.BytesIO()
            frame.to_parquet(buffer)
            return self.write(key, buffer.getvalue())
        return self.write(key, csv_bytes(frame))


class StreamedObject(io.RawIOBase):
    """The writable side of `RunStore.open_write`: bytes written are held until they fill a part of
    STREAM_PART_BYTES, which is then uploaded; `close` completes the object, `abort` gives it up."""

    def __init__(self, client, bucket: str, key: str) -> None:
        super().__init__()
        self.client, self.bucket, self.key = client, bucket, key
        self.uri = f"s3://{bucket}/{key}"
        self._held = bytearray()
        self._written = 0
        self._upload_id: str | None = None
        self._parts: list[dict] = []

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._written

    def write(self, data) -> int:
        with memoryview(data) as view:
            self._held += view
            size = view.nbytes
        self._written += size
        while len(self._held) >= STREAM_PART_BYTES:
            self._send(STREAM_PART_BYTES)
        return size

    def _send(self, size: int) -> None:
        if self._upload_id is None:
            self._upload_id = self.client.create_multipart_upload(Bucket=self.bucket, Key=self.key)["UploadId"]
        number = len(self._parts) + 1
        answer = self.client.upload_part(
            Bucket=self.bucket, Key=self.key, UploadId=self._upload_id, PartNumber=number,
            Body=bytes(self._held[:size]),
        )  # fmt: skip
        self._parts.append({"ETag": answer["ETag"], "PartNumber": number})
        del self._held[:size]

    def close(self) -> None:
        """Send what is held and complete the object (once; a closed or aborted object stays as it is)."""
        if self.closed:
            return
        if self._upload_id is None:
            self.client.put_object(Bucket=self.bucket, Key=self.key, Body=bytes(self._held))
        else:
            if self._held:
                self._send(len(self._held))
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=self.key, UploadId=self._upload_id, MultipartUpload={"Parts": self._parts}
            )
        self._held = bytearray()
        super().close()

    def abort(self) -> None:
        """Give the object up: abort its multipart upload, if one was started, so that no part is kept (and
        billed); what is held is dropped. Failing to abort is logged, not raised over the error that led here."""
        if self.closed:
            return
        self._held = bytearray()
        if self._upload_id is not None:
            try:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self._upload_id)
            except (ClientError, BotoCoreError) as error:
                log.warning("Could not abort the upload of %s: %s", printable(self.uri), printable(str(error)))
        super().close()


class RangedObject(io.RawIOBase):
    """The readable side of `RunStore.open_read`: each read a ranged GetObject of the version it was opened on."""

    def __init__(self, client, bucket: str, key: str) -> None:
        super().__init__()
        self.client, self.bucket, self.key = client, bucket, key
        head = client.head_object(Bucket=bucket, Key=key)
        self.size, self.etag = head["ContentLength"], head["ETag"]
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        start = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self.size}[whence]
        if start + offset < 0:
            raise ValueError(f"cannot seek to byte {start + offset} of s3://{self.bucket}/{self.key}")
        self._position = start + offset
        return self._position

    def readinto(self, buffer) -> int:
        with memoryview(buffer) as view:
            end = min(self.size, self._position + view.nbytes)
            if end <= self._position:
                return 0
            body = self.client.get_object(
                Bucket=self.bucket, Key=self.key, IfMatch=self.etag, Range=f"bytes={self._position}-{end - 1}"
            )["Body"].read()
            if len(body) != end - self._position:
                raise OSError(
                    f"s3://{self.bucket}/{self.key}: asked for bytes {self._position}-{end - 1}, got {len(body)} bytes"
                )
            view[: len(body)] = body
        self._position = end
        return len(body)
