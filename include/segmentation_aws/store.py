"""Reading and writing one bucket's objects as bytes, JSON documents and frames."""

from __future__ import annotations

import io
import json
import re

from boto3.s3.transfer import TransferConfig

_S3_URI = re.compile(r"s3://([^/]+)/(.+)")

UPLOADS = TransferConfig(multipart_threshold=48 << 20, multipart_chunksize=32 << 20)
"""How `RunStore.write` uploads: one PutObject below 48 MiB, else multipart in 32 MiB parts.

boto3's default (8 MiB, in 8 MiB parts) would send a 30 MiB training shard as four parts and a
CompleteMultipartUpload; AWS suggests multipart from about 100 MB. Every request stays under the
emulator's 64 MiB request limit (server.MAX_REQUEST_BYTES), its aws-chunked framing included.
"""


class RunStore:
    """One bucket through one boto3 S3 client. Keys or `s3://` URIs of that bucket are accepted alike."""

    def __init__(self, client, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

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
    def read(self, key_or_uri: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self.key(key_or_uri))["Body"].read()

    def write(self, key: str, data: bytes) -> str:
        """Write `data` (in parts above 48 MiB, see UPLOADS); returns the object's URI."""
        self.client.upload_fileobj(io.BytesIO(data), self.bucket, self.key(key), Config=UPLOADS)
        return self.uri(self.key(key))

    def copy(self, source: str, key: str) -> str:
        self.client.copy_object(
            Bucket=self.bucket, Key=self.key(key), CopySource={"Bucket": self.bucket, "Key": self.key(source)}
        )
        return self.uri(self.key(key))

    # --- documents ------------------------------------------------------------------------------------------
    def read_json(self, key_or_uri: str) -> object:
        return json.loads(self.read(key_or_uri))

    def read_json_if_exists(self, key_or_uri: str) -> object | None:
        try:
            return self.read_json(key_or_uri)
        except self.client.exceptions.NoSuchKey:
            return None

    def write_json(self, key: str, document: object) -> str:
        return self.write(key, json.dumps(document, indent=2, default=str).encode())

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
