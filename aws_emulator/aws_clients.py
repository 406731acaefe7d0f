"""boto3 clients the emulator's own workers use to reach moto's S3, CloudWatch Logs and CloudWatch over loopback.

Going through the same HTTP front door as users keeps moto's semantics exact (and its state the one
place objects live) at the cost of a local copy.
"""

from __future__ import annotations

import re
import threading

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from aws_emulator.connection import DEFAULT_REGION, DUMMY_KEY_ID, DUMMY_SECRET


class S3Error(Exception):
    """An S3 object that cannot be read; the message names the URI."""


def parse_s3_uri(uri: str) -> tuple[str, str]:
    match = re.fullmatch(r"(?:s3|https)://([^/]+)/?(.*)", uri)
    if not match:
        raise S3Error(f"{uri!r} is not an S3 URI")
    return match.group(1), match.group(2)


class AwsClients:
    """Thread-safe factory of clients pointed at `endpoint_url` with dummy credentials."""

    def __init__(self, endpoint_url: str) -> None:
        self.endpoint_url = endpoint_url
        self._local = threading.local()

    def client(self, service: str, region: str = DEFAULT_REGION):  # boto3 clients are untyped
        cache = self._local.__dict__.setdefault("clients", {})
        key = (service, region)
        if key not in cache:
            cache[key] = boto3.session.Session().client(
                service,
                region_name=region,
                endpoint_url=self.endpoint_url,
                config=Config(retries={"max_attempts": 2}, s3={"addressing_style": "path"}),
                aws_access_key_id=DUMMY_KEY_ID,
                aws_secret_access_key=DUMMY_SECRET,
            )
        return cache[key]

    def read(self, uri: str) -> bytes:
        bucket, key = parse_s3_uri(uri)
        try:
            return self.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as exc:
            raise S3Error(f"cannot read {uri}: {exc.response['Error'].get('Code')}") from exc

    def list_keys(self, uri: str) -> list[str]:
        """URIs of every object under a prefix, sorted by key, without "directory" markers."""
        bucket, prefix = parse_s3_uri(uri)
        keys: list[str] = []
        try:
            for page in self.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                keys += [item["Key"] for item in page.get("Contents", []) if not item["Key"].endswith("/")]
        except ClientError as exc:
            raise S3Error(f"cannot list {uri}: {exc.response['Error'].get('Code')}") from exc
        return [f"s3://{bucket}/{key}" for key in sorted(keys)]

    def write(self, uri: str, data: bytes) -> None:
        bucket, key = parse_s3_uri(uri)
        try:
            self.client("s3").put_object(Bucket=bucket, Key=key, Body=data)
        except ClientError as exc:
            raise S3Error(f"cannot write {uri}: {exc.response['Error'].get('Code')}") from exc
